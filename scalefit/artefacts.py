"""Reading saved fits: the JSON artefact, and the data it was fitted to, again.

A fit artefact records where its data can be read (``settings.data``: a store or log paths)
and how that data became points (``settings.data_options``), so figures and reports of a saved
fit find its points without being told.

A saved fit is untrusted input: it may have been edited, truncated, mixed with another fit or
written by someone else. This module is its single reader, and it checks the file against its
documented layout (``docs/fit-json.md``) before anything uses it: the size and nesting of the
file, the type and shape of every field that is read, finite parameters inside their law's
bounds and matching their bootstrap samples. The data paths it records are opened only as
named (regular files, no patterns, no remote stores unless the user passes them).
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from scalefit.errors import InputError, ScalefitError, UsageError

__all__ = ["attach_data", "check_kind", "data_origin", "data_record", "jsonable", "read_artefact", "rebuild_curves",
           "rebuild_dataset", "recorded_data", "recorded_paths", "validate_artefact",
           "validate_curve_artefact", "validate_fit_artefact", "validate_isoflop_artefact",
           "validate_task_artefact", "write_artefact",
           "ARTEFACT_KINDS", "MAX_ARTEFACT_BYTES", "MAX_DEPTH", "SCHEMA_VERSION"]

#: the version of the artefact layout this scalefit writes and reads (docs/fit-json.md)
SCHEMA_VERSION = 1

#: a fit artefact larger than this is refused (a 10,000-sample bootstrap of a 7-parameter law
#: is about 1.5 MB)
MAX_ARTEFACT_BYTES = 64 * 2**20
#: deepest nesting of lists and objects accepted (real artefacts nest 5 deep)
MAX_DEPTH = 32
#: no fitted parameter of any law comes near this; larger values overflow predictions
MAX_PARAM = 1e100
_MAX_ITEMS = 100_000  # predictions, bootstrap rows, data paths, replicates ...
_HINT = "refit and save again with `scalefit fit ... --json FIT.json`"
#: the ``kind`` of each result artefact (a final-loss fit has none, or "fit")
ARTEFACT_KINDS = ("fit", "curve", "isoflop", "task")


# ---------------------------------------------------------------------- writing
def write_artefact(d: Mapping, path: str | Path | None = None, *, indent: int = 2) -> str:
    """An artefact dict as JSON text (non-finite numbers refused: write them as null); also
    written to ``path`` when given (:func:`scalefit.files.atomic_write_text`: a reader never
    sees half of it)."""
    text = json.dumps(d, indent=indent, allow_nan=False, default=_plain)
    if path is not None:
        from scalefit.files import atomic_write_text

        atomic_write_text(Path(path), text + "\n")
    return text


def _plain(o):
    """numpy scalars and arrays as JSON numbers and lists."""
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def data_origin(data) -> str:
    """How a result's data was given, in words for its artefact: ``files``, ``store``, or
    ``in-memory DataFrame`` (arrays, log data ...) when there is no file to read it again."""
    import pandas as pd

    items = data if isinstance(data, (list, tuple)) else [data]
    if items and all(isinstance(x, (str, os.PathLike)) for x in items):
        return "files"
    name = type(data).__name__
    if name == "Store":
        where = str(getattr(data, "path", None) or "")
        return "in-memory store" if not where or where.startswith("memory://") else "store"
    if isinstance(data, pd.DataFrame):
        return "in-memory DataFrame"
    if isinstance(data, tuple) and all(isinstance(x, pd.DataFrame) for x in data):
        return "in-memory tables"
    if name == "LogData":
        return "in-memory log data"
    if data is None:
        return "in-memory arrays"
    if isinstance(data, (list, tuple)) or name == "CurveData":
        return "in-memory curves" if all(type(x).__name__ == "Curve" for x in items) else \
            "in-memory data"
    return f"in-memory {name}"


def data_record(locator: Mapping | None, data_hash: str = "", origin: str = "") -> dict:
    """The artefact's ``data`` record: where the data came from (``origin``; the ``paths`` or
    ``store`` to read it again, when there are any) and the hash of the fitted points."""
    loc = dict(locator or {})
    # data read from files or a store that the result names came from there, whatever held
    # it in memory in between (the CLI reads logs into memory, then records their paths)
    if "store" in loc or "paths" in loc:
        origin = "store" if "store" in loc else "files"
    origin = origin or "in memory"
    out: dict = {"origin": str(origin)}
    if "store" in loc:
        out["store"] = str(loc["store"])
    elif "paths" in loc:
        out["paths"] = [str(p) for p in loc["paths"]]
    out["hash"] = str(data_hash or "")
    return out


# ---------------------------------------------------------------------- reading
def read_artefact(source: str | Path, *, validate: bool = True) -> dict:
    """The JSON object of a fit artefact (final-loss or loss-curve), from a path or JSON text,
    checked against the documented layout (``validate=False``: only parsed)."""
    text = str(source)
    if not text.lstrip().startswith("{"):
        where = str(source)
        text = _read_file(Path(source))
    else:
        where = "JSON text"
        if len(text) > MAX_ARTEFACT_BYTES:
            raise InputError(f"the fit artefact is larger than {MAX_ARTEFACT_BYTES >> 20} MiB",
                             where=where)
    try:
        d = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", where=where) from None
    except (RecursionError, _Constant) as exc:
        msg = (f"holds {exc}, which JSON does not allow (non-finite numbers are written as null)"
               if isinstance(exc, _Constant) else f"nested more than {MAX_DEPTH} levels deep")
        raise InputError(f"not a scalefit fit artefact: it {msg}", where=where) from None
    if not isinstance(d, dict):
        raise InputError("not a scalefit fit artefact (expected a JSON object)", where=where)
    if _depth(d) > MAX_DEPTH:
        raise InputError(f"not a scalefit fit artefact: nested more than {MAX_DEPTH} levels "
                         "deep", where=where)
    if validate:
        validate_artefact(d, where=where)
    return d


def _read_file(p: Path) -> str:
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError("no such fit file", where=str(p),
                         hint="write one with `scalefit fit ... --json FIT.json`") from None
    except OSError as exc:
        raise InputError(f"cannot read the fit artefact: {exc.strerror or exc}",
                         where=str(p)) from None
    if not stat.S_ISREG(st.st_mode):
        # a FIFO or device would block or never end; a folder is not a fit
        raise InputError("not a regular file", where=str(p),
                         hint="give the path of a fit artefact written by `scalefit fit --json`")
    if st.st_size > MAX_ARTEFACT_BYTES:
        raise InputError(f"the fit artefact is {st.st_size / 2**20:.0f} MiB, more than the "
                         f"{MAX_ARTEFACT_BYTES >> 20} MiB a fit can take", where=str(p))
    try:
        with open(p, "rb") as fh:
            raw = fh.read(MAX_ARTEFACT_BYTES + 1)
        if len(raw) > MAX_ARTEFACT_BYTES:
            raise InputError(f"the fit artefact is larger than {MAX_ARTEFACT_BYTES >> 20} MiB",
                             where=str(p))
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the fit artefact: {exc}", where=str(p)) from None


class _Constant(Exception):
    pass


def _no_constant(name: str):
    raise _Constant(name)


def _depth(obj) -> int:
    """Nesting depth of lists and objects, without recursion."""
    best, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict):
            o = list(o.values())
        if isinstance(o, list):
            best = max(best, d)
            if d > MAX_DEPTH:
                return d
            stack.extend((v, d + 1) for v in o if isinstance(v, (dict, list)))
    return best


# ---------------------------------------------------------------------- the checks
class _Check:
    """Type checks that name the key path of what is wrong."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, key: str, msg: str):
        raise InputError(f"not a valid fit artefact: {key}: {msg}", where=self.where,
                         hint=_HINT)

    def obj(self, v, key: str, *, null: bool = False) -> dict | None:
        if v is None and null:
            return None
        if not isinstance(v, dict):
            self.fail(key, f"expected an object, got {_kind(v)}")
        return v

    def lst(self, v, key: str, *, null: bool = False, max_len: int = _MAX_ITEMS) -> list | None:
        if v is None and null:
            return None
        if not isinstance(v, list):
            self.fail(key, f"expected a list, got {_kind(v)}")
        if len(v) > max_len:
            self.fail(key, f"{len(v)} entries, more than {max_len}")
        return v

    def text(self, v, key: str, *, null: bool = False, max_len: int = 10_000) -> str | None:
        if v is None and null:
            return None
        if not isinstance(v, str):
            self.fail(key, f"expected text, got {_kind(v)}")
        if len(v) > max_len:
            self.fail(key, f"text of {len(v)} characters, more than {max_len}")
        return v

    def texts(self, v, key: str, *, null: bool = False) -> list | None:
        v = self.lst(v, key, null=null)
        for i, x in enumerate(v or []):
            self.text(x, f"{key}[{i}]")
        return v

    def num(self, v, key: str, *, null: bool = False, finite: bool = True,
            lo: float = -math.inf, hi: float = math.inf) -> float | None:
        if v is None and null:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(key, f"expected a number, got {_kind(v)}")
        f = float(v) if abs(v) < 1e308 or isinstance(v, float) else math.inf
        if finite and not math.isfinite(f):
            self.fail(key, f"expected a finite number, got {v!r}")
        if not lo <= f <= hi:
            self.fail(key, f"{v!r} is outside [{lo:g}, {hi:g}]")
        return f

    def integer(self, v, key: str, *, null: bool = False, lo: int = 0,
                hi: int = 10**15) -> int | None:
        if v is None and null:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(key, f"expected a whole number, got {_kind(v)}")
        if not lo <= v <= hi:
            self.fail(key, f"{v} is outside [{lo}, {hi}]")
        return v

    def flag(self, v, key: str, *, null: bool = True):
        if v is None and null:
            return None
        if not isinstance(v, bool):
            self.fail(key, f"expected true or false, got {_kind(v)}")
        return v

    def numbers(self, v, key: str, *, null_values: bool = True, null: bool = True):
        v = self.obj(v, key, null=null)
        for k, x in (v or {}).items():
            self.num(x, f"{key}.{k}", null=null_values)
        return v


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, (int, float)):
        return f"the number {v!r}" if abs(v) < 1e300 else "a huge number"
    if isinstance(v, str):
        return f"the text {v[:40]!r}"
    return {dict: "an object", list: "a list"}.get(type(v), type(v).__name__)


def check_kind(d, kind: str, what: str, hint: str) -> None:
    """``InputError`` unless ``d`` is a JSON object whose ``kind`` is ``kind`` (an artefact of
    another kind, or no artefact at all, is named in the message)."""
    if not isinstance(d, Mapping) or d.get("kind") != kind:
        got = d.get("kind") if isinstance(d, Mapping) else None
        raise InputError(f"not {what} (kind={got!r})", hint=hint)


def validate_artefact(d: Mapping, *, where: str = "fit artefact") -> None:
    """Check a parsed artefact of any kind (``ARTEFACT_KINDS``); raises :class:`InputError`
    naming the key."""
    kind = d.get("kind", "fit")
    c = _Check(where)
    if kind not in ARTEFACT_KINDS:
        c.fail("kind", f"expected one of {list(ARTEFACT_KINDS)}, got {_kind(kind)}")
    _data_record(c, d.get("data"))
    {"curve": validate_curve_artefact, "isoflop": validate_isoflop_artefact,
     "task": validate_task_artefact}.get(kind, validate_fit_artefact)(d, where=where)


def _data_record(c: _Check, rec) -> None:
    rec = c.obj(rec, "data", null=True)
    if rec is None:
        return
    c.text(rec.get("origin"), "data.origin", max_len=200)
    c.text(rec.get("hash", ""), "data.hash", max_len=200)
    if "store" in rec:
        c.text(rec["store"], "data.store", max_len=4096)
    for i, p in enumerate(c.lst(rec.get("paths"), "data.paths", null=True) or []):
        c.text(p, f"data.paths[{i}]", max_len=4096)
        if "\x00" in p:
            c.fail(f"data.paths[{i}]", "a path with a NUL character")
    extra = sorted(set(rec) - {"origin", "hash", "store", "paths"})
    if extra:
        c.fail("data", f"unknown keys {extra}")


def _params(c: _Check, v, names: list[str], bounds: dict, key: str = "params") -> dict:
    v = c.obj(v, key)
    if sorted(v) != sorted(names):
        extra, missing = sorted(set(v) - set(names)), [n for n in names if n not in v]
        c.fail(key, f"the law has parameters {names}"
               + (f"; {missing} missing" if missing else "")
               + (f"; {extra} are not its parameters" if extra else ""))
    for k in names:
        lo, hi = bounds.get(k, (-math.inf, math.inf))
        x = c.num(v[k], f"{key}.{k}", lo=-MAX_PARAM, hi=MAX_PARAM)
        if not lo <= x <= hi:
            c.fail(f"{key}.{k}", f"{x!r} is outside the parameter's range [{lo:g}, {hi:g}]")
    return v


def _law_bounds(law, settings: Mapping) -> dict[str, tuple[float, float]]:
    """Each parameter's allowed range: the law's bounds, widened by the fit's own ``bounds``
    and ``fix`` settings (both checked as numbers first)."""
    out = {p.name: (float(p.lower), float(p.upper)) for p in law.params}
    for k, b in (settings.get("bounds") or {}).items():
        if k in out and isinstance(b, list) and len(b) == 2:
            lo, hi = (float(x) if isinstance(x, (int, float)) and not isinstance(x, bool)
                      else None for x in b)
            out[k] = (min(out[k][0], lo if lo is not None else out[k][0]),
                      max(out[k][1], hi if hi is not None else out[k][1]))
    for k, x in (settings.get("fix") or {}).items():
        if k in out and isinstance(x, (int, float)) and not isinstance(x, bool):
            out[k] = (min(out[k][0], float(x)), max(out[k][1], float(x)))
    return out


def _near(value: float, column, log: bool) -> bool:
    """Whether a point estimate lies within its bootstrap (or jackknife) values, give or take
    the width of their range: a tampered or mixed-up parameter does not."""
    import numpy as np

    col = np.asarray(column, float)
    if log and np.all(col > 0):
        if value <= 0:  # a positive-only parameter whose samples are all positive
            return False
        value, col = math.log(value), np.log(col)
    lo, hi = float(col.min()), float(col.max())
    w = hi - lo
    tol = 1e-9 * max(abs(value), abs(lo), abs(hi), 1e-300)
    return lo - w - tol <= value <= hi + w + tol


def validate_fit_artefact(d: Mapping, *, where: str = "fit artefact") -> None:
    """Check a final-loss fit artefact against ``docs/fit-json.md``."""
    import numpy as np


    c = _Check(where)
    _require(d, ("law", "params", "objective", "n_points"), "a scalefit fit artefact", where,
             _HINT)
    schema = d.get("schema", SCHEMA_VERSION)
    c.integer(schema, "schema", lo=1)
    if schema > SCHEMA_VERSION:
        c.fail("schema", f"version {schema} was written by a newer scalefit (this one reads "
                         f"{SCHEMA_VERSION}); upgrade scalefit")
    law = _law(c, d["law"])
    from scalefit.laws.base import Law

    if not isinstance(law, Law):  # a curve law named by a file not marked "kind": "curve"
        c.fail("law", f"{d['law']!r} is a loss-curve law, but the file is not a curve fit "
                      "(its \"kind\" is not \"curve\")")
    settings = c.obj(d.get("settings"), "settings", null=True) or {}
    _settings(c, settings, law.param_names)
    bounds = _law_bounds(law, settings)
    params = _params(c, d["params"], law.param_names, bounds)
    c.num(d["objective"], "objective", finite=False)
    c.integer(d["n_points"], "n_points")
    c.integer(d.get("n_runs", 0), "n_runs")
    c.text(d.get("metric", "loss"), "metric", max_len=1000)
    c.text(d.get("formula"), "formula", null=True)
    c.text(d.get("data_hash", ""), "data_hash", max_len=200)
    c.text(d.get("version", ""), "version", max_len=200)
    ci = c.obj(d.get("ci"), "ci", null=True)
    for k, iv in (ci or {}).items():
        if k not in params:
            c.fail(f"ci.{k}", "not a parameter of the law")
        c.lst(iv, f"ci.{k}")
        if len(iv) != 2:
            c.fail(f"ci.{k}", f"expected [lo, hi], got {len(iv)} numbers")
        lo, hi = (c.num(x, f"ci.{k}", null=True) for x in iv)
        if lo is not None and hi is not None and lo > hi:
            c.fail(f"ci.{k}", f"lo {lo:g} is above hi {hi:g}")
    for k in c.numbers(d.get("stderr"), "stderr") or {}:
        if k not in params:
            c.fail(f"stderr.{k}", "not a parameter of the law")
    for i, p in enumerate(c.lst(d.get("predictions"), "predictions", null=True) or []):
        _record(c, p, f"predictions[{i}]")
    for k, r in (c.obj(d.get("derived"), "derived", null=True) or {}).items():
        _value_record(c, r, f"derived.{k}")
        c.text(r.get("doc"), f"derived.{k}.doc", null=True)
        c.text(r.get("interval"), f"derived.{k}.interval", null=True)
    _diagnostics(c, d.get("diagnostics"))
    _backtest(c, d.get("backtest"))
    boot = c.obj(d.get("bootstrap"), "bootstrap", null=True)
    if boot:
        order = c.texts(boot.get("param_order", law.param_names), "bootstrap.param_order")
        if list(order) != law.param_names:
            c.fail("bootstrap.param_order", f"expected the law's parameters {law.param_names}, "
                                            f"got {order}")
        rows = c.lst(boot.get("samples"), "bootstrap.samples", null=True) or []
        P = len(law.param_names)
        for i, row in enumerate(rows):
            c.lst(row, f"bootstrap.samples[{i}]")
            if len(row) != P:
                c.fail(f"bootstrap.samples[{i}]", f"{len(row)} values for {P} parameters")
            for j, x in enumerate(row):
                c.num(x, f"bootstrap.samples[{i}][{j}]", lo=-MAX_PARAM, hi=MAX_PARAM)
        if "n" in boot and boot["n"] is not None:
            n = c.integer(boot["n"], "bootstrap.n")
            if rows and n != len(rows):
                c.fail("bootstrap.n", f"says {n} samples, the file holds {len(rows)}")
        if rows:
            arr = np.asarray(rows, float)
            logs = {p.name: bool(p.log) for p in law.params}
            for j, k in enumerate(law.param_names):
                if not _near(params[k], arr[:, j], logs[k]):
                    c.fail(f"params.{k}", f"{params[k]:g} lies far outside its own bootstrap "
                                          f"samples [{arr[:, j].min():g}, {arr[:, j].max():g}]: "
                                          "the parameters and samples are not from one fit")


def _law(c: _Check, spec):
    from scalefit.laws import get_law

    spec = c.text(spec, "law", max_len=500)
    try:
        return get_law(spec)
    except ScalefitError as exc:
        c.fail("law", str(exc))
    except Exception as exc:  # noqa: BLE001 (any failure to build the law is a bad file)
        c.fail("law", f"{spec!r} is not a law scalefit can rebuild ({type(exc).__name__})")


def _value_record(c: _Check, r, key: str) -> dict:
    r = c.obj(r, key)
    for k in ("value", "lo", "hi"):
        c.num(r.get(k), f"{key}.{k}", null=True)
    return r


def _record(c: _Check, p, key: str) -> None:
    p = _value_record(c, p, key)
    ins = c.obj(p.get("inputs"), f"{key}.inputs", null=True) or {}
    for k, x in ins.items():
        c.num(x, f"{key}.inputs.{k}", null=True)
    for k in ("label", "kind", "interval"):
        c.text(p.get(k), f"{key}.{k}", null=True)
    c.texts(p.get("warnings"), f"{key}.warnings", null=True)
    c.numbers(p.get("members"), f"{key}.members")
    for k in ("N", "D"):
        if p.get(k) is not None and not isinstance(p.get(k), (int, float)):
            _value_record(c, p[k], f"{key}.{k}")


def _settings(c: _Check, s: dict, names: list[str]) -> None:
    c.num(s.get("level", 0.95), "settings.level", lo=1e-6, hi=1 - 1e-9)
    c.integer(s.get("bootstrap") or 0, "settings.bootstrap")
    c.numbers(s.get("fix"), "settings.fix", null_values=False)
    for k in (s.get("fix") or {}):
        if k not in names:
            c.fail(f"settings.fix.{k}", "not a parameter of the law")
    b = c.obj(s.get("bounds"), "settings.bounds", null=True)
    for k, iv in (b or {}).items():
        c.lst(iv, f"settings.bounds.{k}")
        if len(iv) != 2:
            c.fail(f"settings.bounds.{k}", "expected [lo, hi]")
        for x in iv:
            c.num(x, f"settings.bounds.{k}", null=True, finite=False)
    obj = c.obj(s.get("objective"), "settings.objective", null=True)
    if obj:
        c.text(obj.get("name"), "settings.objective.name", null=True)
    c.flag(s.get("checkpoints"), "settings.checkpoints")
    c.text(s.get("holdout"), "settings.holdout", null=True)
    c.integer(s.get("n_starts") or 0, "settings.n_starts", null=True)
    _data(c, s.get("data"))
    o = c.obj(s.get("data_options"), "settings.data_options", null=True) or {}
    c.flag(o.get("include_excluded"), "settings.data_options.include_excluded")
    c.texts(o.get("runs"), "settings.data_options.runs", null=True)
    ins = c.obj(o.get("inputs"), "settings.data_options.inputs", null=True)
    for k, v in (ins or {}).items():
        c.text(v, f"settings.data_options.inputs.{k}")
    c.num(o.get("warmup_frac", 0.1), "settings.data_options.warmup_frac", lo=0, hi=1)


def _data(c: _Check, src) -> None:
    src = c.obj(src, "settings.data", null=True)
    if not src:
        return
    if "store" in src:
        c.text(src["store"], "settings.data.store", max_len=4096)
        for i, r in enumerate(c.lst(src.get("runs"), "settings.data.runs", null=True) or []):
            c.text(r, f"settings.data.runs[{i}]")
    elif "paths" in src:
        for i, p in enumerate(c.lst(src["paths"], "settings.data.paths")):
            c.text(p, f"settings.data.paths[{i}]", max_len=4096)
            if "\x00" in p:
                c.fail(f"settings.data.paths[{i}]", "a path with a NUL character")
    else:
        c.fail("settings.data", "expected {\"store\": path} or {\"paths\": [...]}")


def _diagnostics(c: _Check, dg) -> None:
    dg = c.obj(dg, "diagnostics", null=True) or {}
    for k in ("warnings", "notes", "at_bound"):
        c.texts(dg.get(k), f"diagnostics.{k}", null=True)
    for k in ("condition_number", "points_per_param"):
        c.num(dg.get(k), f"diagnostics.{k}", null=True, finite=False)
    c.integer(dg.get("n_free"), "diagnostics.n_free", null=True)
    c.integer(dg.get("n_dropped"), "diagnostics.n_dropped", null=True)
    c.flag(dg.get("converged"), "diagnostics.converged")
    r = c.obj(dg.get("residuals"), "diagnostics.residuals", null=True) or {}
    for k, v in r.items():
        if k in ("space", "worst_run"):
            c.text(v, f"diagnostics.residuals.{k}", null=True)
        else:
            c.num(v, f"diagnostics.residuals.{k}", null=True)
    c.numbers(dg.get("multistart"), "diagnostics.multistart")
    c.numbers(dg.get("bootstrap"), "diagnostics.bootstrap")
    rng = c.obj(dg.get("input_range"), "diagnostics.input_range", null=True)
    for k, iv in (rng or {}).items():
        c.lst(iv, f"diagnostics.input_range.{k}")
        if len(iv) != 2:
            c.fail(f"diagnostics.input_range.{k}", "expected [min, max]")
        lo, hi = (c.num(x, f"diagnostics.input_range.{k}") for x in iv)
        if lo > hi:
            c.fail(f"diagnostics.input_range.{k}", f"min {lo:g} is above max {hi:g}")


def _backtest(c: _Check, bt) -> None:
    bt = c.obj(bt, "backtest", null=True)
    if not bt:
        return
    for k in ("holdout", "law"):
        c.text(bt.get(k), f"backtest.{k}", null=True)
    for k in ("n_train", "n_heldout"):
        c.integer(bt.get(k), f"backtest.{k}", null=True)
    c.texts(bt.get("heldout_runs"), "backtest.heldout_runs", null=True)
    for k in ("mean_rel_error", "max_rel_error", "median_rel_error"):
        c.num(bt.get(k), f"backtest.{k}", null=True)
    c.numbers(bt.get("train_params"), "backtest.train_params")
    for i, p in enumerate(c.lst(bt.get("points"), "backtest.points", null=True) or []):
        key = f"backtest.points[{i}]"
        p = c.obj(p, key)
        c.text(p.get("run"), f"{key}.run")
        ins = c.obj(p.get("inputs"), f"{key}.inputs")
        for k, x in ins.items():
            c.num(x, f"{key}.inputs.{k}", null=True)
        for k in ("value", "pred", "rel_error"):
            c.num(p.get(k), f"{key}.{k}", null=True)
    for i, r in enumerate(c.lst(bt.get("ranking"), "backtest.ranking", null=True) or []):
        key = f"backtest.ranking[{i}]"
        r = c.obj(r, key)
        c.text(r.get("law"), f"{key}.law")
        c.text(r.get("variant"), f"{key}.variant", null=True)
        c.text(r.get("label"), f"{key}.label", null=True)
        for j, run in enumerate(c.lst(r.get("runs"), f"{key}.runs", null=True) or []):
            c.text(run, f"{key}.runs[{j}]")
        for k in ("mean_rel_error", "max_rel_error"):
            c.num(r.get(k), f"{key}.{k}", null=True)
        for k in ("error", "as", "note"):
            c.text(r.get(k), f"{key}.{k}", null=True)
    cal = c.obj(bt.get("calibration"), "backtest.calibration", null=True)
    if cal:
        for k in ("method", "holdout", "of"):
            c.text(cal.get(k), f"backtest.calibration.{k}", null=True)
        c.num(cal.get("level"), "backtest.calibration.level", null=True, lo=0, hi=1)
        c.integer(cal.get("n_points"), "backtest.calibration.n_points", null=True)
        for k in ("rate_per_decade", "noise", "rate_per_span"):
            c.num(cal.get(k), f"backtest.calibration.{k}", null=True, lo=0)
        c.num(cal.get("span_decades"), "backtest.calibration.span_decades", null=True, lo=0,
              hi=100)
        c.num(cal.get("offset_decades"), "backtest.calibration.offset_decades", null=True,
              lo=0, hi=10)
        for k, x in (c.obj(cal.get("upper"), "backtest.calibration.upper", null=True)
                     or {}).items():
            c.num(x, f"backtest.calibration.upper.{k}", lo=0)
        c.flag(cal.get("exact_quantile"), "backtest.calibration.exact_quantile")
    ens = c.obj(bt.get("ensemble"), "backtest.ensemble", null=True)
    if ens:
        c.text(ens.get("weighting"), "backtest.ensemble.weighting", null=True)
        for k in ("mean_rel_error", "max_rel_error"):
            c.num(ens.get(k), f"backtest.ensemble.{k}", null=True, lo=0)
        for i, m in enumerate(c.lst(ens.get("members"), "backtest.ensemble.members") or []):
            key = f"backtest.ensemble.members[{i}]"
            m = c.obj(m, key)
            c.text(m.get("law"), f"{key}.law")
            for k in ("label", "variant"):
                c.text(m.get(k), f"{key}.{k}", null=True)
            c.num(m.get("weight"), f"{key}.weight", lo=0, hi=1)
            c.num(m.get("backtest_error"), f"{key}.backtest_error", null=True, lo=0)
            c.integer(m.get("n_runs"), f"{key}.n_runs", null=True)
            for k, x in c.obj(m.get("params"), f"{key}.params").items():
                c.num(x, f"{key}.params.{k}")


def validate_curve_artefact(d: Mapping, *, where: str = "fit artefact") -> None:
    """Check a loss-curve fit artefact (``"kind": "curve"``) against ``docs/fit-json.md``."""
    import numpy as np

    c = _Check(where)
    _require(d, ("law", "params"), "a scalefit curve fit", where, _HINT)
    spec = c.text(d["law"], "law", max_len=500)
    opts = c.obj(d.get("law_options") or {}, "law_options")
    try:
        if spec.startswith("joint_"):
            from scalefit.laws.curve import JointLaw

            scaled = c.texts(opts.get("scaled"), "law_options.scaled", null=True)
            n_ref = c.num(opts.get("N_ref", 1e8), "law_options.N_ref", lo=1e-300)
            base = c.text(opts.get("base", spec[len("joint_"):]), "law_options.base")
            law = JointLaw(base, scaled=scaled, N_ref=n_ref)
        else:
            from scalefit.laws.curve import get_curve_law

            law = get_curve_law(spec)
    except ScalefitError as exc:
        c.fail("law", str(exc))
    except Exception as exc:  # noqa: BLE001 (any failure to build the law is a bad file)
        c.fail("law", f"{spec!r} is not a curve law scalefit can rebuild "
                      f"({type(exc).__name__})")
    bounds = {p.name: (float(p.lower), float(p.upper)) for p in law.params}
    params = _params(c, d["params"], law.param_names, bounds)
    c.num(d.get("objective"), "objective", null=True)
    c.integer(d.get("n_points", 0), "n_points")
    c.num(d.get("level", 0.95), "level", lo=1e-6, hi=1 - 1e-9)
    for k in ("data_hash", "version"):
        c.text(d.get(k), k, null=True, max_len=200)
    s = c.obj(d.get("settings"), "settings", null=True) or {}
    for k in ("method", "loss", "residual", "intervals"):
        c.text(s.get(k), f"settings.{k}", null=True)
    _data(c, s.get("data"))
    for i, cv in enumerate(c.lst(d.get("curves"), "curves", null=True) or []):
        cv = c.obj(cv, f"curves[{i}]")
        c.text(cv.get("name"), f"curves[{i}].name", null=True)
        c.num(cv.get("N"), f"curves[{i}].N", null=True, lo=0)
        c.integer(cv.get("n_points"), f"curves[{i}].n_points", null=True)
        if cv.get("schedule") is not None and not isinstance(cv["schedule"], (dict, str)):
            c.fail(f"curves[{i}].schedule", f"expected an object, got {_kind(cv['schedule'])}")
    reps = c.lst(d.get("replicates"), "replicates", null=True) or []
    for i, r in enumerate(reps):
        r = c.obj(r, f"replicates[{i}]")
        c.text(r.get("left_out"), f"replicates[{i}].left_out", null=True)
        _params(c, r.get("params"), law.param_names, bounds, f"replicates[{i}].params")
    if len(reps) == 1:
        c.fail("replicates", "one leave-one-curve-out refit gives no interval")
    if reps:
        for k in law.param_names:
            col = np.array([r["params"][k] for r in reps], float)
            # leave-one-out refits lie around the full fit, within about their own range
            spread = float(col.max() - col.min())
            if abs(params[k] - float(np.median(col))) > spread + 0.05 * abs(params[k]) + 1e-12:
                c.fail(f"params.{k}", f"{params[k]:g} lies far from its leave-one-curve-out "
                                      f"refits [{col.min():g}, {col.max():g}]: the parameters "
                                      "and refits are not from one fit")
    dg = c.obj(d.get("diagnostics"), "diagnostics", null=True) or {}
    for k in ("warnings", "notes", "at_bound"):
        c.texts(dg.get(k), f"diagnostics.{k}", null=True)
    for name, e in (c.obj(dg.get("fit_errors"), "diagnostics.fit_errors", null=True)
                    or {}).items():
        c.numbers(e, f"diagnostics.fit_errors.{name}", null=False)


def _require(d: Mapping, keys, what: str, where: str, hint: str) -> None:
    """The keys every artefact of a kind has; the first missing one is named."""
    for key in keys:
        if key not in d:
            raise InputError(f"not {what}: key {key!r} is missing", where=where, hint=hint)


def validate_isoflop_artefact(d: Mapping, *, where: str = "fit artefact") -> None:
    """Check an IsoFLOP artefact (``"kind": "isoflop"``) against ``docs/fit-json.md``."""
    c = _Check(where)
    _require(d, ("a", "k", "b", "k_D", "minima"), "a scalefit IsoFLOP artefact", where,
             "save again with `scalefit isoflop ... --json`")
    _schema(c, d)
    for key in ("a", "b"):
        c.num(d[key], key, lo=-100, hi=100)
    for key in ("k", "k_D"):
        c.num(d[key], key, lo=1e-300, hi=MAX_PARAM)
    for key in ("a_se", "log_k_se", "b_se"):
        c.num(d.get(key), key, null=True, lo=0)
    c.text(d.get("se_method", "ols"), "se_method", max_len=50)
    for key in ("metric", "version"):
        c.text(d.get(key), key, null=True, max_len=1000)
    rows = c.lst(d["minima"], "minima")
    for i, r in enumerate(rows):
        key = f"minima[{i}]"
        r = c.obj(r, key)
        c.num(r.get("C"), f"{key}.C", lo=0)
        for k in ("N_opt", "D_opt", "loss", "curvature"):
            c.num(r.get(k), f"{key}.{k}", null=True)
        for k in ("n_points", "n_used"):
            c.integer(r.get(k, 0), f"{key}.{k}")
        c.flag(r.get("used"), f"{key}.used")
    s = c.obj(d.get("settings"), "settings", null=True) or {}
    c.text(s.get("method"), "settings.method", null=True, max_len=50)
    for k in ("window", "flops_per_token", "noise"):
        c.num(s.get(k), f"settings.{k}", null=True, lo=0)
    for k in ("min_points", "bootstrap", "noise_draws"):
        c.integer(s.get(k), f"settings.{k}", null=True)
    c.integer(s.get("seed"), "settings.seed", null=True, lo=-(2**63))
    _data(c, s.get("data"))
    for i, x in enumerate(c.lst(d.get("bootstrap_a"), "bootstrap_a", null=True) or []):
        c.num(x, f"bootstrap_a[{i}]", lo=-100, hi=100)


def validate_task_artefact(d: Mapping, *, where: str = "fit artefact") -> None:
    """Check a task-prediction artefact (``"kind": "task"``) against ``docs/fit-json.md``."""
    import numpy as np

    c = _Check(where)
    _require(d, ("task", "law", "step1", "step2", "targets"), "a scalefit task prediction",
             where, "save again with `scalefit tasks ... --json`")
    _schema(c, d)
    for key in ("task", "loss_metric", "acc_metric"):
        c.text(d.get(key), key, null=key != "task", max_len=1000)
    c.text(d.get("version"), "version", null=True, max_len=200)
    law = _law(c, d["law"])
    if sorted(getattr(law, "input_names", [])) != ["D", "N"]:
        c.fail("law", f"step 1 needs a law of N and D; {d['law']!r} is not one")
    sig = _law(c, "task_sigmoid")
    laws = {"step1": law, "step2": sig}
    for key, lw in laws.items():
        _params(c, d[key], lw.param_names,
                {p.name: (float(p.lower), float(p.upper)) for p in lw.params}, key)
    c.texts(d.get("runs"), "runs", null=True)
    c.num(d.get("ci", 0.95), "ci", lo=1e-6, hi=1 - 1e-9)
    c.integer(d.get("n_boot", 0), "n_boot")
    for i, t in enumerate(c.lst(d["targets"], "targets")):
        key = f"targets[{i}]"
        t = c.obj(t, key)
        c.text(t.get("name"), f"{key}.name", max_len=1000)
        for k in ("N", "D"):
            c.num(t.get(k), f"{key}.{k}", lo=1e-300, hi=MAX_PARAM)
        for k in ("loss", "loss_lo", "loss_hi", "acc", "lo", "hi"):
            c.num(t.get(k), f"{key}.{k}", null=True)
    for k, v in (c.obj(d.get("diagnostics"), "diagnostics", null=True) or {}).items():
        if isinstance(v, dict):
            c.numbers(v, f"diagnostics.{k}")
        elif not isinstance(v, bool):
            c.num(v, f"diagnostics.{k}", null=True)
    boot = c.obj(d.get("bootstrap"), "bootstrap", null=True) or {}
    n_rows = set()
    for key, lw in laws.items():
        rows = c.lst(boot.get(key), f"bootstrap.{key}", null=True) or []
        n_rows.add(len(rows))
        P = len(lw.param_names)
        for i, row in enumerate(rows):
            c.lst(row, f"bootstrap.{key}[{i}]")
            if len(row) != P:
                c.fail(f"bootstrap.{key}[{i}]", f"{len(row)} values for {P} parameters")
            for j, x in enumerate(row):
                c.num(x, f"bootstrap.{key}[{i}][{j}]", lo=-MAX_PARAM, hi=MAX_PARAM)
        if rows:
            arr = np.asarray(rows, float)
            for j, p in enumerate(lw.params):
                if not _near(d[key][p.name], arr[:, j], bool(p.log)):
                    c.fail(f"{key}.{p.name}", "lies far outside its own bootstrap samples: the "
                                              "parameters and samples are not from one fit")
    if len(n_rows) > 1:
        c.fail("bootstrap", "step 1 and step 2 hold different numbers of replicates")


def _schema(c: _Check, d: Mapping) -> None:
    schema = d.get("schema", SCHEMA_VERSION)
    c.integer(schema, "schema", lo=1)
    if schema > SCHEMA_VERSION:
        c.fail("schema", f"version {schema} was written by a newer scalefit (this one reads "
                         f"{SCHEMA_VERSION}); upgrade scalefit")


def jsonable(x):
    """``x`` with numpy values as plain numbers and lists, and non-finite numbers as None (what
    an artefact holds: JSON has no NaN)."""
    if x is None:
        return None
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        return jsonable(x.tolist())
    if isinstance(x, bool) or type(x).__name__ == "bool_":
        return bool(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x) if math.isfinite(x) else None
    return x


# ---------------------------------------------------------------------- the recorded data
def recorded_data(result):
    """The data a fit artefact says it was made from (``settings.data``), ready to read.

    Raises a UsageError when the artefact does not say, an InputError when it is gone. Only a
    local store folder or regular files named exactly are followed: an address (``s3://``,
    ``http://``) in a file is not, since a fit file may come from anyone.
    """
    src = (result.settings or {}).get("data")
    if not src:
        raise UsageError("this fit artefact does not record where its data is (the fit was made "
                         "on data in memory)", where="--data",
                         hint="pass the logs with --data FILE or the store with --store DIR")
    if "store" in src:
        from scalefit.store import Store

        where = str(src["store"])
        if "://" in where:
            raise InputError("the fit records a remote store address, which scalefit does not "
                             "open on a file's say-so", where=where,
                             hint="if you trust it, pass it yourself with --store ADDRESS")
        if not Path(where).is_dir():
            raise InputError("the store this fit was made from is not there any more",
                             where=where, hint="pass the store with --store DIR")
        return Store(where, create=False)
    paths = recorded_paths(result)
    return paths if len(paths) > 1 else paths[0]


def recorded_paths(result) -> list[str]:
    """The log or curve files a fit records, each checked to be a regular file as named.

    Patterns are not expanded and folders are not listed: a file names its data exactly."""
    paths = list(((result.settings or {}).get("data") or {}).get("paths") or [])
    if not paths:
        raise InputError("the fit artefact records no data paths", where="settings.data",
                         hint="pass the logs with --data FILE or the store with --store DIR")
    bad, missing = [], []
    for p in paths:
        if not isinstance(p, str) or "://" in p or "\x00" in p:
            bad.append(str(p))
            continue
        try:
            st = os.stat(p)
        except OSError:
            missing.append(p)
            continue
        if not stat.S_ISREG(st.st_mode):
            bad.append(p)
    if bad:
        raise InputError("the fit records data paths that are not regular files (a pattern, "
                         "folder, pipe, device or address), which are not opened",
                         where=", ".join(bad[:5]),
                         hint="pass the logs with --data FILE or the store with --store DIR")
    if missing:
        raise InputError("the logs this fit was made from are not there any more",
                         where=", ".join(missing[:5]),
                         hint="pass the logs with --data FILE or the store with --store DIR")
    return paths


def rebuild_dataset(result, data=None, *, strict: bool = False):
    """The data set a saved fit was made on, rebuilt from ``data`` (logs or a store; by default
    the data the artefact records, ``settings.data``) with the fit's recorded runs, inputs,
    exclusions, warm-up, metric and checkpoints (``settings.data_options``).

    The one way every figure and the report get a saved fit's points back. Returns
    ``(dataset, notes)``; a data set whose points or hash differ from the fit's (the data
    changed since the fit) gives a note, or an InputError with ``strict``.
    """
    from scalefit.fitting.dataset import build_dataset

    if data is None:
        data = recorded_data(result)
    settings = result.settings or {}
    opts = dict(settings.get("data_options") or {})
    ds = build_dataset(data, result.law_, metric=opts.get("metric") or result.metric,
                       checkpoints=bool(settings.get("checkpoints", False)),
                       include_excluded=bool(opts.get("include_excluded", False)),
                       runs=opts.get("runs"), inputs=opts.get("inputs"),
                       warmup_frac=float(opts.get("warmup_frac", 0.1)))
    notes = []
    differs = (result.data_hash and ds.hash() != result.data_hash) or \
        (result.n_points and ds.n != result.n_points)
    if differs:
        msg = (f"the data given ({ds.n} points of {ds.metric!r}) differs from the data this fit "
               f"was made on ({result.n_points} points): it changed since the fit")
        if strict:
            raise InputError(msg, where="--data", hint="pass the logs or store the fit came from")
        notes.append(msg)
    return ds, notes


def rebuild_curves(result, paths=None, *, store=None) -> list:
    """The observed curves of a saved loss-curve fit, read from ``paths``, from ``store`` (a
    :class:`~scalefit.store.Store` or its folder), or by default from what it records
    (``settings.data``: curve files, checked by :func:`recorded_paths`, or a store and its
    runs, checked by :func:`recorded_data`), each with the schedule, model size and metric the
    fit recorded for it."""
    from scalefit.curves import read_curve

    src = (result.settings or {}).get("data") or {}
    if paths is None and (store is not None or "store" in src):
        return _store_curves(result, store)
    if paths is None:
        paths = recorded_paths(result)
    elif isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    paths = list(paths)
    settings = result.settings or {}
    opts = dict(settings.get("data_options") or {})
    metric = opts.get("metric") or settings.get("metric")
    rec = list(getattr(result, "curves", None) or [])
    if rec and len(rec) != len(paths):
        raise InputError(f"{len(paths)} curve file(s) for a fit made on {len(rec)} curves",
                         where=", ".join(map(str, paths[:5])),
                         hint="give the curve files the fit was made on")
    out = []
    for i, p in enumerate(paths):
        r = rec[i] if rec else {}
        sch = r.get("schedule") if isinstance(r.get("schedule"), dict) else None
        out.append(read_curve(p, name=r.get("name"), schedule=sch, N=r.get("N"),
                              warmup=None if sch else opts.get("warmup"), metric=metric))
    return out


def _store_curves(result, store) -> list:
    """A curve fit's curves from a store: the runs it records, each with its recorded size."""
    from scalefit.curves.data import curves_from_logs
    from scalefit.store import Store

    settings = result.settings or {}
    if store is None:
        store = recorded_data(result)
    elif not isinstance(store, Store):
        store = Store(store, create=False)
    rec = [r for r in (getattr(result, "curves", None) or []) if isinstance(r, Mapping)]
    runs = (settings.get("data") or {}).get("runs") or [str(r.get("name")) for r in rec] or None
    size = {str(r.get("name")): r.get("N") for r in rec}
    opts = dict(settings.get("data_options") or {})
    metric = opts.get("metric") or settings.get("metric")
    names = runs or store.runs["run"].tolist()
    curves, _ = curves_from_logs(store, runs=runs, metric=metric, warmup=opts.get("warmup"),
                                 N=[size.get(n) for n in names])
    return curves


def attach_data(result, data=None, *, strict: bool = False) -> list[str]:
    """Give a fit read from JSON its data again (for the points on the figures), rebuilt by
    :func:`rebuild_dataset`. Returns its notes; with ``strict`` a data set that differs from
    the fitted one is an error.
    """
    ds, notes = rebuild_dataset(result, data, strict=strict)
    result.dataset = ds
    return notes
