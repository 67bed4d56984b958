"""Result conformance: what every scalefit result (a final-loss fit, a loss-curve fit, an
IsoFLOP result, a task prediction, or a result type of one's own) promises.

:func:`check_result` checks one result object and raises :class:`ConformanceError` (an
``AssertionError``) listing every broken promise:

* the shared names: ``law``, ``law_``, ``params_`` (name -> finite number), ``ci_`` (None or
  name -> (lo, hi) with lo <= hi), ``stderr_`` (name -> number), ``level`` (of the intervals,
  in (0, 1)), ``predict``, ``to_json``, ``from_json`` and ``summary``;
* ``summary()`` is a :class:`scalefit.summary.Summary` whose text, HTML and dict are not
  empty (the dict JSON-safe), and the result's ``str`` and ``_repr_html_`` are the summary's;
* ``repr`` is one line shorter than 200 characters;
* ``to_json()`` returns the JSON text and ``to_json(path)`` writes it and returns None;
* ``to_json`` then ``from_json`` (from the text and from a file) gives the same parameters,
  the same predictions and the same artefact, and ``from_json`` refuses a file that is not one
  with a :class:`scalefit.errors.InputError`;
* ``predict`` is vectorised: at several inputs it gives one finite value each, and the first
  of them alone gives the same value.

``inputs`` says where to predict, as keyword arguments or ``(args, kwargs)``; without it, the
inputs come from the result itself (its fitted range, curves, budgets or targets).

Example::

    from scalefit.testing import check_result
    check_result(scalefit.fit("data/chinchilla.csv"))
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import InputError
from scalefit.summary import REPR_MAX, Summary

__all__ = ["ConformanceError", "REQUIRED_NAMES", "check_result", "example_inputs"]

#: the names every result type has, with the same meaning
REQUIRED_NAMES = ("law", "law_", "params_", "ci_", "stderr_", "level", "predict", "to_json",
                  "from_json", "summary")

Call = tuple[tuple, dict]


class ConformanceError(AssertionError):
    """A result breaks the result protocol; the message lists each broken promise."""


def check_result(result: Any, inputs: Mapping[str, Any] | Call | None = None, *,
                 rtol: float = 1e-9) -> None:
    """Check ``result`` against the result protocol (module docstring); raise
    :class:`ConformanceError` naming every failure, return None when it conforms."""
    name = type(result).__name__
    problems: list[str] = []

    def check(what: str, fn: Callable[[], None]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # extrapolation warnings are not failures
                fn()
        except _Failed as exc:
            problems.append(f"{what}: {exc}")
        except Exception as exc:  # noqa: BLE001 (any error is a broken promise, named)
            problems.append(f"{what}: raised {type(exc).__name__}: {exc}")

    missing = [n for n in REQUIRED_NAMES if not _has(result, n)]
    if missing:
        problems.append(f"names: missing {missing} (every result has {list(REQUIRED_NAMES)})")
    else:
        check("params_/ci_/stderr_", lambda: _check_params(result))
        check("summary()", lambda: _check_summary(result))
        check("repr", lambda: _check_repr(result))
        calls = _calls(result, inputs)
        check("predict", lambda: _check_predict(result, calls, rtol))
        check("to_json/from_json", lambda: _check_round_trip(result, calls, rtol))
    if problems:
        raise ConformanceError(f"{name} does not conform to the result protocol:\n  - "
                               + "\n  - ".join(problems))


class _Failed(Exception):
    pass


def _fail(msg: str) -> None:
    raise _Failed(msg)


def _has(obj, name: str) -> bool:
    try:
        getattr(obj, name)
    except Exception:  # noqa: BLE001 (a property that raises is a missing name too)
        return False
    return True


# ---------------------------------------------------------------------- the checks
def _check_params(r) -> None:
    p = r.params_
    if not isinstance(p, Mapping) or not p:
        _fail(f"params_ should be a non-empty mapping of name -> value, got {type(p).__name__}")
    bad = [k for k, v in p.items() if not isinstance(k, str) or not _finite(v)]
    if bad:
        _fail(f"params_ {bad} are not finite numbers named by text")
    ci = r.ci_
    if ci is not None:
        if not isinstance(ci, Mapping):
            _fail(f"ci_ should be None or a mapping, got {type(ci).__name__}")
        for k, iv in ci.items():
            if k not in p:
                _fail(f"ci_ names {k!r}, which is not in params_")
            lo, hi = (float(x) for x in iv)
            if math.isfinite(lo) and math.isfinite(hi) and lo > hi:
                _fail(f"ci_[{k!r}] = ({lo:g}, {hi:g}) has lo above hi")
    se = r.stderr_
    if not isinstance(se, Mapping):
        _fail(f"stderr_ should be a mapping, got {type(se).__name__}")
    extra = [k for k in se if k not in p]
    if extra:
        _fail(f"stderr_ names {extra}, which are not in params_")
    if not 0 < float(r.level) < 1:
        _fail(f"level should be in (0, 1), got {r.level!r}")
    law = r.law_
    if not getattr(law, "name", None):
        _fail("law_ should describe the law (it has no name)")


def _check_summary(r) -> None:
    s = r.summary()
    if not isinstance(s, Summary):
        _fail(f"should return a scalefit.summary.Summary, got {type(s).__name__}")
    text, html, d = str(s), s._repr_html_(), s.to_dict()
    if not text.strip():
        _fail("its text is empty")
    if not html.strip().startswith("<"):
        _fail("its HTML is empty or not HTML")
    if not isinstance(d, dict) or not d:
        _fail("its dict is empty")
    json.dumps(d, allow_nan=False)  # JSON-safe
    if str(r) != text:
        _fail("str(result) is not str(result.summary())")
    if r._repr_html_() != html:
        _fail("result._repr_html_() is not result.summary()._repr_html_()")


def _check_repr(r) -> None:
    text = repr(r)
    if "\n" in text:
        _fail(f"should be one line, got {text.count(chr(10)) + 1} lines")
    if len(text) > REPR_MAX:
        _fail(f"should be shorter than {REPR_MAX + 1} characters, got {len(text)}")


def _check_predict(r, calls: tuple[Call, Call], rtol: float) -> None:
    (va, vk), (sa, sk) = calls
    n = _n_points(va, vk)
    many = _values(r.predict(*va, **vk))
    if many.shape[0] != n:
        _fail(f"{n} inputs gave {many.shape[0]} predictions (not vectorised)")
    if not np.all(np.isfinite(many)):
        _fail(f"predictions are not all finite: {many.tolist()[:5]}")
    one = _values(r.predict(*sa, **sk))
    if one.shape[0] != 1 or not np.allclose(one[0], many[0], rtol=rtol, atol=0):
        _fail(f"the first input alone gives {one.tolist()}, in the vector {many[0].tolist()}")


def _check_round_trip(r, calls: tuple[Call, Call], rtol: float) -> None:
    cls = type(r)
    text = r.to_json()
    if not isinstance(text, str):
        _fail(f"to_json() should return the JSON text, got {type(text).__name__}")
    art = json.loads(text)
    if not isinstance(art.get("data"), dict) or "origin" not in art["data"]:
        _fail("the artefact does not record where its data came from (\"data\": {\"origin\"})")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result.json"
        if r.to_json(path) is not None:
            _fail("to_json(path) should write the file and return None (a notebook cell "
                  "that saves a result would echo the whole artefact)")
        backs = {"text": cls.from_json(text), "file": cls.from_json(path)}
    (va, vk), _ = calls
    want = _values(r.predict(*va, **vk))
    for how, back in backs.items():
        if type(back) is not cls:
            _fail(f"from_json ({how}) gave a {type(back).__name__}")
        if set(back.params_) != set(r.params_) or not all(
                math.isclose(float(back.params_[k]), float(v), rel_tol=rtol)
                for k, v in r.params_.items()):
            _fail(f"from_json ({how}) changed the parameters: {back.params_} != {r.params_}")
        got = _values(back.predict(*va, **vk))
        if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=0,
                                                      equal_nan=True):
            _fail(f"from_json ({how}) predicts {got.tolist()[:3]}, not {want.tolist()[:3]}")
        again = json.loads(back.to_json())
        if again != art:
            diff = sorted(k for k in set(art) | set(again) if art.get(k) != again.get(k))
            _fail(f"from_json ({how}) then to_json changes the artefact at {diff}")
    try:
        cls.from_json(json.dumps({"kind": art.get("kind", "fit"), "law": 1}))
    except InputError:
        pass
    else:
        _fail("from_json accepted a file that is not an artefact (expected an InputError)")


# ---------------------------------------------------------------------- inputs and values
def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _n_points(args: tuple, kwargs: dict) -> int:
    if "steps" in kwargs:
        return len(kwargs["steps"])
    sizes = [np.size(x) for x in (*args, *kwargs.values())
             if isinstance(x, (list, tuple, np.ndarray))]
    return max(sizes, default=1)


def _values(out) -> np.ndarray:
    """The predicted numbers, one row per input: a Prediction's values, a frame's predicted
    columns, or an array."""
    import pandas as pd

    if isinstance(out, pd.DataFrame):
        cols = [c for c in ("loss_pred", "loss_lo", "loss_hi", "N_opt", "D_opt")
                if c in out.columns] or list(out.select_dtypes("number").columns)
        return out[cols].to_numpy(dtype=float)
    v = getattr(out, "value", out)
    return np.atleast_1d(np.asarray(v, dtype=float)).reshape(-1, 1)


def example_inputs(result: Any) -> Call:
    """Where :func:`check_result` predicts when not told: ``(args, kwargs)`` for several
    inputs within what ``result`` was fitted on (its range, curves, budgets or targets)."""
    return _calls(result, None)[0]


def _calls(r, inputs) -> tuple[Call, Call]:
    """(vector call, first-point call) as (args, kwargs) pairs."""
    if inputs is not None:
        args, kwargs = inputs if isinstance(inputs, tuple) else ((), dict(inputs))
        return (tuple(args), dict(kwargs)), _first(tuple(args), dict(kwargs))
    kinds = {c.__name__ for c in type(r).__mro__}
    if "CurveFitResult" in kinds:
        return _curve_calls(r)
    if "IsoFlopResult" in kinds:
        C = np.asarray(r.minima["C"], float)
        C = np.geomspace(C.min(), C.max() * 10, 4)
        return ((C,), {}), ((C[:1],), {})
    if "TaskPrediction" in kinds:
        N = np.array([t.N for t in r.targets] + [2 * r.targets[0].N], float)
        D = np.array([t.D for t in r.targets] + [2 * r.targets[0].D], float)
        return ((N, D), {}), ((N[:1], D[:1]), {})
    law = r.law_
    rng = r.input_range() if hasattr(r, "input_range") else {}
    kw = {}
    for k in law.input_names:
        lo, hi = rng.get(k, (1.0, 10.0))
        kw[k] = np.geomspace(max(lo, 1e-300), max(hi, lo) * 2, 4)
    return ((), kw), _first((), kw)


def _first(args: tuple, kwargs: dict) -> Call:
    def one(x):
        return np.asarray(x)[:1] if isinstance(x, (list, tuple, np.ndarray)) else x

    return tuple(one(a) for a in args), {k: one(v) for k, v in kwargs.items()}


def _curve_calls(r) -> tuple[Call, Call]:
    from scalefit.schedules import parse_schedule

    rec = next((c for c in r.curves if isinstance(c, Mapping) and c.get("schedule")), None)
    if rec is None:
        raise _Failed("the curve fit records no schedule to predict (pass inputs=)")
    sch = parse_schedule(rec["schedule"])
    steps = np.unique(np.geomspace(1, sch.total_steps - 1, 5).astype(np.int64))
    kw = {"steps": steps}
    if r.law.startswith("joint_"):
        kw["N"] = float(rec.get("N") or 1e8)
    return ((rec["schedule"],), kw), ((rec["schedule"],), {**kw, "steps": steps[:1]})
