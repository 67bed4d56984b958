"""Build the arrays a law is fitted to: inputs ``X``, targets ``y`` and the run of each point.

Sources: a :class:`~scalefit.store.Store`, a :class:`~scalefit.store.LogData`, a path (or list
of paths, read with :func:`scalefit.io.read_logs`), or a DataFrame (a points table with
``metric``/``value`` columns, or a final-loss table with one row per run).

Each law input is taken from the runs-table column its :class:`~scalefit.laws.base.Input` names
(``N`` <- ``params``, ``D`` <- ``tokens_total``, ``C`` <- ``flops_total`` ...), from a tag of the
same name, or derived (``D = C/(6N)``, ``C = 6ND``). By default a run contributes its final value
of the metric; with ``checkpoints=True`` every logged checkpoint is a point, with the tokens seen
so far as ``D`` (from the ``tokens`` column, else step x batch size x sequence length) and the
warmup trimmed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import FitError, InputError, UsageError

__all__ = ["Dataset", "build_dataset", "load_tables", "choose_metric"]

# loss-like metric names, most preferred first (compared lower-case)
_PREFERRED = ["loss", "val/loss", "eval/loss", "valid/loss", "validation/loss", "val_loss",
              "eval_loss", "train/loss", "train_loss", "lm_loss", "lm loss"]


@dataclass
class Dataset:
    """Arrays for one fit. ``groups[i]`` indexes ``runs`` (the run point i belongs to)."""

    X: dict[str, np.ndarray]
    y: np.ndarray
    groups: np.ndarray
    runs: list[str]
    metric: str
    checkpoints: bool = False
    sources: dict[str, str] = field(default_factory=dict)  # input -> where it came from
    notes: list[str] = field(default_factory=list)
    n_dropped: int = 0
    steps: np.ndarray | None = None
    #: model size (non-embedding parameters) of each point's run, when the runs table has it:
    #: size-wise backtests hold out the largest sizes even for laws without an ``N`` input
    size: np.ndarray | None = None
    #: logged training FLOPs of each point (the runs' ``flops_total``, or the points' ``flops``
    #: at each checkpoint), when the data has them: figures place runs at this compute
    flops: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.y.shape[0])

    @property
    def n_runs(self) -> int:
        """Number of distinct runs among the points."""
        return int(np.unique(self.groups).size)

    def compute(self) -> np.ndarray:
        """Training compute per point: the ``C`` input, else 6·N·D, else the largest input."""
        if "C" in self.X:
            return np.asarray(self.X["C"], float)
        if "N" in self.X and "D" in self.X:
            return 6.0 * self.X["N"] * self.X["D"]
        return np.max(np.stack([np.asarray(v, float) for v in self.X.values()]), axis=0)

    def subset(self, mask: np.ndarray) -> Dataset:
        """The points selected by ``mask`` (boolean or index array), with every per-point
        array; ``runs`` keeps all run names, so ``groups`` still index it."""
        mask = np.asarray(mask)
        return Dataset({k: np.asarray(v)[mask] for k, v in self.X.items()}, self.y[mask],
                       self.groups[mask], self.runs, self.metric, self.checkpoints,
                       dict(self.sources), list(self.notes), self.n_dropped,
                       None if self.steps is None else self.steps[mask],
                       None if self.size is None else self.size[mask],
                       None if self.flops is None else self.flops[mask])

    def sizes(self) -> np.ndarray | None:
        """Model size per point: the ``N`` input, else the runs' ``params``; None if unknown."""
        if "N" in self.X:
            return np.asarray(self.X["N"], float)
        return self.size

    def frame(self) -> pd.DataFrame:
        """The points as a DataFrame: ``run``, one column per input, and the metric."""
        df = pd.DataFrame({"run": [self.runs[g] for g in self.groups]})
        for k, v in self.X.items():
            df[k] = v
        df[self.metric] = self.y
        return df

    def hash(self) -> str:
        """``sha256:`` digest of the metric name, the inputs and the targets (identifies the
        data)."""
        h = hashlib.sha256()
        h.update(self.metric.encode())
        for k in sorted(self.X):
            h.update(k.encode())
            h.update(np.ascontiguousarray(self.X[k], dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(self.y, dtype=np.float64).tobytes())
        return "sha256:" + h.hexdigest()


# ---------------------------------------------------------------------- sources
def data_source(data) -> dict | None:
    """Where ``data`` can be read again: ``{"store": path}`` or ``{"paths": [...]}`` (absolute;
    globs kept), or ``None`` for data held only in memory. Recorded in fit artefacts so that
    figures and reports of a saved fit find its points."""
    from scalefit.store import Store

    if isinstance(data, Store):
        if data.path is None or data.path.startswith("memory://"):
            return None
        local = "://" not in data.path
        return {"store": os.path.abspath(data.path) if local else data.path}
    items = data if isinstance(data, (list, tuple)) else [data]
    if items and all(isinstance(x, (str, os.PathLike)) for x in items):
        return {"paths": [os.path.abspath(os.fspath(x)) for x in items]}
    return None


def load_tables(data) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(runs, points, source label) from a Store, LogData, path(s) or DataFrame."""
    from scalefit.schema import validate_points, validate_runs
    from scalefit.store import LogData, Store

    if isinstance(data, Store):
        return data.runs, data.points, data.path or "store"
    if isinstance(data, LogData):
        return validate_runs(data.runs), validate_points(data.points), data.source or "logs"
    if isinstance(data, pd.DataFrame):
        if {"metric", "value"} <= set(data.columns) and "run" in data.columns:
            pts = validate_points(data, where="DataFrame")
            runs = _runs_from_points_frame(data, pts)
            return runs, pts, "DataFrame"
        return (*_final_table(data), "DataFrame")
    if isinstance(data, (str, os.PathLike)) or (
            isinstance(data, Sequence) and data and all(isinstance(d, (str, os.PathLike))
                                                        for d in data)):
        from scalefit.io import read_logs

        logs = read_logs(data)
        return validate_runs(logs.runs), validate_points(logs.points), logs.source or str(data)
    raise UsageError(f"cannot fit data of type {type(data).__name__}",
                     hint="give a path, a list of paths, a DataFrame or a Store")


def _runs_from_points_frame(df: pd.DataFrame, pts: pd.DataFrame) -> pd.DataFrame:
    from scalefit.schema import RUN_COLUMNS, validate_runs

    names = pd.unique(pts["run"])
    runs = pd.DataFrame({"run": pd.array(names, dtype="string")})
    # per-run constant columns next to the points (params, batch_size ...) become run fields
    for col in RUN_COLUMNS:
        if col in df.columns and col != "run":
            runs[col] = df.groupby("run", sort=False)[col].last().reindex(names).to_numpy()
    return validate_runs(runs, where="DataFrame")


def _final_table(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A final-loss table (one row per run) -> runs and points frames."""
    from scalefit.io.columns import C_NAMES, D_NAMES, N_NAMES, find_column, norm
    from scalefit.schema import validate_points, validate_runs

    cols = [str(c) for c in df.columns]
    df = df.rename(columns=dict(zip(df.columns, cols, strict=True)))
    num = [c for c in cols if pd.api.types.is_numeric_dtype(df[c])]
    n_col = find_column(num, ["N", "params", *N_NAMES])
    d_col = find_column(num, ["D", "tokens_total", *D_NAMES])
    c_col = find_column(num, ["C", "flops_total", *C_NAMES])
    used = {n_col, d_col, c_col}
    loss_cols = [c for c in num if "loss" in norm(c) and c not in used]
    if not loss_cols:
        raise InputError(f"the table has no numeric loss column; columns: {cols[:10]}",
                         where="DataFrame", hint="name the loss column 'loss'")
    run_col = find_column(cols, ["run", "name", "run_name", "model"])
    n = len(df)
    import pyarrow as pa

    from scalefit.io.frames import points_frame
    from scalefit.io.tables import check_unique_runs

    # one Arrow string array of the run names, shared by the runs and points frames: a million
    # runs would otherwise be a million Python strings, several times over
    if run_col:
        names = pa.array(df[run_col].astype(str).to_numpy(dtype=object), pa.large_string(),
                         memory_pool=_pool())
    else:
        names = _row_names(n)
    if run_col:  # (row-N names are distinct)
        check_unique_runs(df[run_col].astype(str).tolist(), run_col, "DataFrame")  # as a CSV
    run_arr = pd.array(names, dtype="string")
    del names
    runs = pd.DataFrame({"run": run_arr}, copy=False)
    for col, field_ in ((n_col, "params"), (d_col, "tokens_total"), (c_col, "flops_total")):
        if col:
            runs[field_] = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    extra = [c for c in num if c not in used and c not in loss_cols]
    # tags only where a row has something to tag: no dict per row of a plain table
    tags: dict[int, dict] = {}
    if extra:
        tags = {i: {c: _py(df[c].iloc[i]) for c in extra} for i in range(n)}
    # the runs schema holds only positive sizes: non-positive values leave the column (rows
    # are dropped and counted later) but are kept in a reserved tag, for law inputs declared
    # with Input(positive=False) that read these columns
    for f_ in ("params", "tokens_total", "flops_total"):
        if f_ in runs:
            v = runs[f_].to_numpy(float)
            keep = np.isfinite(v) & (v > 0)
            for i in np.flatnonzero(np.isfinite(v) & ~keep):
                tags.setdefault(int(i), {}).setdefault(_RAW_TAG, {})[f_] = float(v[i])
            if not keep.all():
                runs[f_] = np.where(keep, v, np.nan)
    if any(tags.values()):
        runs["tags"] = [json.dumps(tags.get(i, {})) for i in range(n)]
    parts = []
    for lc in loss_cols:
        part = points_frame("", np.nan, lc, pd.to_numeric(df[lc], errors="coerce")
                            .to_numpy(dtype=float))
        part["run"] = run_arr
        parts.append(part)
    pts = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    return validate_runs(runs, where="DataFrame"), validate_points(pts, where="DataFrame")


def _pool():
    """Arrow's system allocator: large buffers go back to the OS when freed, where the default
    pool (mimalloc) keeps its high-water mark, ~100 MB after a million run names."""
    import pyarrow as pa

    return pa.system_memory_pool()


def _row_names(n: int):
    """``row-0`` ... ``row-{n-1}`` as an Arrow string array, built from numpy buffers."""
    import pyarrow as pa

    width = max(len(str(n - 1)), 1)
    digits = np.arange(n).astype(f"S{width}")  # NUL-padded on the right
    mat = digits.view(np.uint8).reshape(n, width)
    keep = np.concatenate([np.ones((n, 4), bool), mat != 0], axis=1)
    full = np.empty(keep.shape, np.uint8)
    full[:, :4] = np.frombuffer(b"row-", np.uint8)
    full[:, 4:] = mat
    chars = full[keep]
    off = np.zeros(n + 1, np.int64)
    np.cumsum(keep.sum(axis=1), out=off[1:])
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(off), pa.py_buffer(chars))


def _arrow(s: pd.Series):
    """A string column as Arrow data, without a copy where pandas holds it in Arrow already."""
    import pyarrow as pa

    return pa.chunked_array(s.array.__arrow_array__(), type=pa.large_string())


def _factorize(s: pd.Series, known: pd.Series | None = None):
    """(codes, names, aligned) of a run column: codes in order of first appearance, as
    ``pd.factorize``, ``names`` an Arrow array. ``known``: distinct run names (a validated
    runs table); when the column is exactly those names in that order (``aligned``), its codes
    are a range and nothing is hashed."""
    import pyarrow.compute as pc

    arr = _arrow(s)
    if known is not None and len(known) == len(arr):
        ref = _arrow(known)
        if pc.all(pc.equal(arr, ref, memory_pool=_pool()), memory_pool=_pool()).as_py():
            return (np.arange(len(arr), dtype=np.int64), ref.combine_chunks(memory_pool=_pool()),
                    True)
    enc = pc.dictionary_encode(arr, memory_pool=_pool()).combine_chunks(memory_pool=_pool())
    return enc.indices.to_numpy().astype(np.int64), enc.dictionary, False


def _py(v):
    v = v.item() if isinstance(v, np.generic) else v
    return None if isinstance(v, float) and not np.isfinite(v) else v


# ---------------------------------------------------------------------- metric
def choose_metric(points: pd.DataFrame, metric: str | None) -> str:
    """The metric to fit: ``metric`` if given (checked), else the only loss-like one."""
    available = sorted(points["metric"].dropna().unique().tolist())
    if not available:
        raise FitError("the data holds no metric values", hint="check the log files")
    if metric is not None:
        if metric not in available:
            import difflib

            # the names closest to the one asked for first (a store can hold dozens)
            close = difflib.get_close_matches(metric, available, n=5, cutoff=0.5)
            close += [m for m in available if metric.lower() in m.lower() and m not in close]
            ordered = close + [m for m in available if m not in close]
            raise UsageError(f"no metric {metric!r} in the data; available: {_list(ordered)}",
                             where="--metric")
        return metric
    if len(available) == 1:
        return available[0]
    low = {m.lower(): m for m in available}
    lossy = [m for m in available if "loss" in m.lower() and "scale" not in m.lower()]
    if len(lossy) == 1:
        return lossy[0]
    if lossy:
        if "loss" in low:
            return low["loss"]
        # one validation loss beats train losses; several of either is ambiguous
        val = [m for m in lossy if re.search(r"(^|[/_])(val|valid|validation|eval)", m.lower())]
        if len(val) == 1:
            return val[0]
    if lossy:
        raise UsageError(f"{len(lossy)} loss metrics and none is clearly the one to fit: "
                         f"{_list(lossy)}", where="--metric",
                         hint="choose one with --metric NAME (metric=...)")
    raise UsageError(f"several metrics and none is a loss: {_list(available)}",
                     where="--metric", hint="choose one with --metric NAME (metric=...)")


def _list(xs: list[str], k: int = 12) -> str:
    return ", ".join(xs[:k]) + (f" ... ({len(xs)} in all)" if len(xs) > k else "")


# ---------------------------------------------------------------------- dataset
def build_dataset(data, law, *, metric: str | None = None, checkpoints: bool = False,
                  inputs: Mapping[str, str] | None = None, runs: Sequence[str] | None = None,
                  warmup_frac: float = 0.1, include_excluded: bool = False) -> Dataset:
    """Arrays for fitting ``law`` to ``data``; see the module docstring.

    ``inputs`` maps a law input to a runs column or tag key (``{"N": "params_total"}``).
    ``warmup_frac``: with ``checkpoints``, the first fraction of each curve's steps is dropped.
    Runs tagged ``exclude`` (a truthy ``exclude`` column in a final-loss table, or tag) are left
    out and counted in the notes, unless ``include_excluded``.
    """
    runs_df, points, source = load_tables(data)
    if runs is not None:
        missing = sorted(set(runs) - set(runs_df["run"]))
        if missing:
            raise UsageError(f"no run named {missing[0]!r}", where="runs")
        runs_df = runs_df[runs_df["run"].isin(list(runs))]
        points = points[points["run"].isin(list(runs))]
    if points.empty:
        raise FitError("the data holds no points", where=source)
    metric = choose_metric(points, metric)
    pts = points[points["metric"] == metric]
    notes: list[str] = []
    n_dropped = 0
    finite = np.isfinite(pts["value"].to_numpy(dtype=float))
    if not finite.all():
        k = int((~finite).sum())
        n_dropped += k
        notes.append(f"dropped {k} point(s) with a NaN/inf {metric}")
        pts = pts[finite]
    if pts.empty:
        raise FitError(f"no finite values of {metric!r}", where=source)

    has_step = pts["step"].notna().to_numpy()
    if checkpoints:
        if not has_step.any():
            raise FitError("--checkpoints needs per-step logs, but this is a final-loss table",
                           where=source, hint="fit without --checkpoints")
        pts = pts[has_step]
        try:
            from scalefit.clean import clean_points
        except ImportError:  # pragma: no cover - cleaning ships with scalefit
            clean_points = None
        if clean_points is not None:
            pts, rep = clean_points(pts, skip_frac=warmup_frac)
            if rep.dropped_warmup:
                notes.append(f"dropped {rep.dropped_warmup} warmup point(s) "
                             f"(first {warmup_frac:.0%} of each curve)")
            if rep.deduplicated:
                notes.append(f"dropped {rep.deduplicated} superseded point(s) (restarts)")
        table = pts.reset_index(drop=True)
    else:
        # each run's final value: the largest step, or the last row of a final-loss table.
        # Rows sorted by step (stably: ties keep the runs' order), then each run's last row,
        # in that order; on codes and positions, so a million runs copy no frame
        perm = (np.argsort(pts["step"].astype("float64").fillna(-1.0).to_numpy(), kind="stable")
                if has_step.any() else np.arange(len(pts)))  # no steps: the rows' order
        pcodes, _, aligned = _factorize(pts["run"], runs_df["run"])
        # a run per row (aligned with the runs table): every row is its run's last
        take = perm if aligned else perm[~pd.Series(pcodes[perm]).duplicated(keep="last")
                                            .to_numpy()]
        same = len(take) == len(pts) and bool(np.all(take == np.arange(len(pts))))
        table = (pts if same else pts.iloc[take]).reset_index(drop=True)
        n_curve = np.bincount(pcodes)
        del perm, pcodes, take
        if law.kind == "final" and len(table) == 1 and int(n_curve.max()) > 1:
            has_lr = pts["lr"].notna().any()
            raise FitError(
                f"the data is one run's loss curve ({int(n_curve.max())} points of {metric!r}); "
                f"a final-loss law like {law.name!r} needs several runs of different sizes",
                where=source,
                hint=("the curve laws fit one curve with its LR schedule: "
                      "`scalefit fit FILE --law multi_power` (or lr_annealing)"
                      if has_lr else
                      "log the learning rate (an lr column) and fit a curve law: "
                      "`scalefit fit FILE --law multi_power` (or lr_annealing)"))
        if has_step.any():
            notes.append(f"used each run's final {metric!r} ({len(table)} runs); "
                         "--checkpoints fits every checkpoint")

    # each point's run as a code into the run names, and its row of the runs table (a run
    # the runs table lacks gets an empty row); a final-loss table's runs are already in order
    codes, names_arr, aligned = _factorize(table["run"], runs_df["run"])
    rt_run = runs_df["run"].reset_index(drop=True)
    if aligned:
        pos = np.arange(len(names_arr))  # the runs table itself, in its order
    else:
        pos = pd.Index(rt_run).get_indexer(pd.array(names_arr, dtype="string"))
    at = pos[codes]
    rt = runs_df.reset_index(drop=True).drop(columns="run")
    rows = rt if len(at) == len(rt) and bool(np.all(at == np.arange(len(rt)))) else rt.reindex(at)
    del pos, at, rt_run
    # no tags at all (a plain table): an empty list, not a dict per point
    tags = ([_tags(t) for t in rows["tags"]]
            if "tags" in rows and rows["tags"].notna().any() else [])
    X, sources = _inputs(law, table, rows, tags, checkpoints, dict(inputs or {}))
    y = table["value"].to_numpy(dtype=float)

    ok = np.isfinite(y)
    marked = (np.array([_truthy(t.get("exclude")) for t in tags], dtype=bool) if tags
              else np.zeros(len(y), dtype=bool))
    if include_excluded:
        marked[:] = False
    if marked.any():
        ok &= ~marked
        names = sorted({names_arr[int(c)].as_py() for c in np.unique(codes[marked])})
        notes.append(f"left out {len(names)} run(s) marked exclude in the data "
                     f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}); "
                     "--include-excluded fits them")
    for k, v in X.items():
        inp = next((i for i in law.inputs if i.name == k), None)
        ok &= np.isfinite(v)
        if inp is not None and inp.positive:
            ok &= v > 0
    bad = ~ok & ~marked
    if bad.any():
        k = int(bad.sum())
        n_dropped += k
        bad_in = [name for name, v in X.items() if not np.all(np.isfinite(v[bad]) & (v[bad] > 0))]
        notes.append(f"dropped {k} point(s) with a missing or non-positive input "
                     f"({', '.join(bad_in) or 'value'})")
    X = {k: v[ok] for k, v in X.items()}
    y = y[ok]
    codes = codes[ok]
    steps = table["step"].astype("float64").to_numpy()[ok]
    size = _col(rows, "params")
    size = None if size is None else size[ok]
    flops = (pd.to_numeric(table["flops"], errors="coerce").to_numpy(dtype=float)
             if checkpoints and "flops" in table else _col(rows, "flops_total"))
    flops = None if flops is None else flops[ok]
    # the frames go before a million run names become Python strings
    del runs_df, points, pts, table, rows, rt, tags
    groups, run_list = _sorted_groups(codes, names_arr)
    return Dataset(X, y, groups, run_list, metric, checkpoints,
                   sources, notes, n_dropped, steps, size, flops)


def _sorted_groups(codes: np.ndarray, names) -> tuple[np.ndarray, list[str]]:
    """``np.unique(names[codes], return_inverse=True)`` from codes: the names of the runs
    present, sorted, and each point's index into them, sorting each name once, not per point.
    Arrow sorts UTF-8 bytewise, which is code point order, as Python sorts ``str``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    seen = np.zeros(len(names), bool)
    seen[codes] = True
    present = np.flatnonzero(seen)  # np.unique(codes), in one pass
    arr = pc.take(names, pa.array(present), memory_pool=_pool())
    order = pc.array_sort_indices(arr, memory_pool=_pool()).to_numpy()
    rank = np.empty(len(present), dtype=np.int64)
    rank[order] = np.arange(len(present))
    lut = np.full(len(names), -1, dtype=np.int64)
    lut[present] = rank
    return lut[codes], pc.take(arr, pa.array(order), memory_pool=_pool()).to_pylist()


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in {"1", "true", "yes", "y", "x"}
    try:
        return bool(v) and not (isinstance(v, float) and np.isnan(v))
    except (TypeError, ValueError):
        return False


def _tags(t) -> dict:
    if t is None or t is pd.NA or (isinstance(t, float) and np.isnan(t)):
        return {}
    try:
        d = json.loads(t)
    except (TypeError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def _col(rows: pd.DataFrame, name: str) -> np.ndarray | None:
    if name in rows.columns:
        v = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)
        return v if np.isfinite(v).any() else None
    return None


#: tag holding the non-positive sizes a final-loss table gave (see ``_final_table``)
_RAW_TAG = "_nonpositive"


def _with_raw(v: np.ndarray | None, tags: list[dict], column: str) -> np.ndarray | None:
    """Column ``v`` with the non-positive values the table gave put back (NaN elsewhere)."""
    if not tags:
        return v
    raw = [t.get(_RAW_TAG, {}).get(column) if isinstance(t.get(_RAW_TAG), dict) else None
           for t in tags]
    if all(r is None for r in raw):
        return v
    out = np.full(len(tags), np.nan) if v is None else np.array(v, float, copy=True)
    for i, r in enumerate(raw):
        if r is not None and not np.isfinite(out[i]):
            try:
                out[i] = float(r)
            except (TypeError, ValueError):
                pass
    return out


def _tag(tags: list[dict], key: str) -> np.ndarray | None:
    if not tags:
        return None
    vals = [t.get(key) for t in tags]
    if all(v is None for v in vals):
        return None
    try:
        return np.array([np.nan if v is None else float(v) for v in vals], dtype=float)
    except (TypeError, ValueError):
        return None


def _inputs(law, table, rows, tags, checkpoints, overrides) -> tuple[dict, dict]:
    X: dict[str, np.ndarray] = {}
    src: dict[str, str] = {}
    n = len(table)
    names = law.input_names
    for k in overrides:
        if k not in names:
            raise UsageError(f"law {law.name!r} has no input {k!r}; its inputs are {names}",
                             where="inputs")

    def lookup(inp) -> tuple[np.ndarray | None, str]:
        if inp.name in overrides:
            key = overrides[inp.name]
            v = _col(rows, key)
            if v is None:
                v = _tag(tags, key)
            if v is None and key in table.columns:
                v = pd.to_numeric(table[key], errors="coerce").to_numpy(dtype=float)
            if v is None:
                raise UsageError(f"input {inp.name!r}: no runs column or tag {key!r}",
                                 where="inputs")
            return v, key
        if checkpoints and inp.name == "D":
            return _tokens_seen(table, rows), "tokens seen at each checkpoint"
        if checkpoints and inp.name == "C":
            fl = table["flops"].to_numpy(dtype=float)
            if np.isfinite(fl).all():
                return fl, "points flops"
            return None, ""
        if checkpoints and (inp.column == "step" or inp.name == "S"):
            return table["step"].astype("float64").to_numpy(), "step of each checkpoint"
        if inp.column:
            v = _col(rows, inp.column)
            if not inp.positive:
                v = _with_raw(v, tags, inp.column)
            if v is not None:
                return v, inp.column
        for key in (getattr(inp, "tag", None), inp.name, inp.column):
            if key:
                v = _tag(tags, key)
                if v is not None:
                    return v, f"tag {key!r}"
        return None, ""

    pending = []
    for inp in law.inputs:
        v, where = lookup(inp)
        if v is None:
            pending.append(inp)
        else:
            X[inp.name], src[inp.name] = np.asarray(v, float), where
    # derive what is missing from C = 6·N·D
    need_nd = {"N", "D", "C"}
    if pending:
        have = dict(X)
        if any(p.name in need_nd for p in pending):
            for nm, col in (("N", "params"), ("D", "tokens_total"), ("C", "flops_total")):
                if nm not in have:
                    if nm == "D" and checkpoints:
                        have["D"] = _tokens_seen(table, rows)
                    elif nm == "C" and checkpoints and "N" in have and "D" in have:
                        continue
                    else:
                        v = _col(rows, col)
                        if v is not None:
                            have[nm] = v
        for inp in list(pending):
            v, how = None, ""
            if inp.name == "D" and "N" in have and "C" in have:
                v, how = have["C"] / (6.0 * have["N"]), "C/(6N)"
            elif inp.name == "C" and "N" in have and "D" in have:
                v, how = 6.0 * have["N"] * have["D"], "6ND"
            elif inp.name == "N" and "C" in have and "D" in have:
                v, how = have["C"] / (6.0 * have["D"]), "C/(6D)"
            elif inp.name in have:
                v, how = have[inp.name], {"N": "params", "D": "tokens_total",
                                          "C": "flops_total"}.get(inp.name, inp.name)
            if v is not None:
                X[inp.name], src[inp.name] = np.asarray(v, float), how
                pending.remove(inp)
    if pending:
        inp = pending[0]
        raise FitError(
            f"law {law.name!r} needs input {inp.name!r} ({inp.doc}), but the runs have no "
            f"{inp.column or inp.name!r} column or tag",
            hint=(f"add a column or tag {inp.column or inp.name!r} to the runs; in Python, "
                  f"inputs={{'{inp.name}': 'COLUMN'}} maps another column to it"))
    for k in X:
        if X[k].shape != (n,):
            X[k] = np.broadcast_to(X[k], (n,)).astype(float)
    return X, src


def _tokens_seen(table: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    tok = table["tokens"].to_numpy(dtype=float)
    if np.isfinite(tok).all():
        return tok
    step = table["step"].astype("float64").to_numpy()
    bs = _col(rows, "batch_size")
    sl = _col(rows, "seq_len")
    alt = np.full(len(table), np.nan)
    if bs is not None and sl is not None:
        alt = step * bs * sl
    out = np.where(np.isfinite(tok), tok, alt)
    if not np.isfinite(out).any():
        raise FitError("--checkpoints needs the tokens seen at each step: no tokens column "
                       "and no batch_size/seq_len for the runs",
                       hint="log tokens, or give batch size and sequence length")
    return out
