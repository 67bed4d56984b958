"""The canonical tables of the store and their units.

``points``: one row per (run, metric, step), long format so any number of metrics fits.
``runs``: one row per run with its size, budget and provenance.

Conventions (recorded per run in ``meta``):
- ``params`` is the non-embedding parameter count (Kaplan: 12·L·d² for a standard
  transformer) unless ``params_convention`` says otherwise.
- ``flops_total`` counts training FLOPs; when derived from N and D it is 6·N·D.
- ``step`` is nullable: a final-loss table (one row per run) has no step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from scalefit.errors import SchemaError

#: points: column -> pandas dtype
POINT_COLUMNS: dict[str, str] = {
    "run": "string",
    "step": "Int64",
    "tokens": "float64",
    "flops": "float64",
    "lr": "float64",
    "metric": "string",
    "value": "float64",
}

#: runs: column -> pandas dtype. ``tags``, ``schedule`` and ``meta`` hold JSON text.
RUN_COLUMNS: dict[str, str] = {
    "run": "string",
    "params": "float64",
    "params_total": "float64",
    "tokens_total": "float64",
    "flops_total": "float64",
    "unique_tokens": "float64",
    "batch_size": "float64",
    "seq_len": "float64",
    "lr_max": "float64",
    "schedule": "string",
    "params_convention": "string",
    "tags": "string",
    "meta": "string",
    "source": "string",
    "source_hash": "string",
    "ingested_at": "string",
}

#: numeric run columns a reader may fill and a law may use as input
RUN_NUMERIC = [c for c, t in RUN_COLUMNS.items() if t == "float64"]

#: the key that identifies one point
POINT_KEY = ["run", "metric", "step"]


def empty_points() -> pd.DataFrame:
    """An empty points table with the columns and dtypes of :data:`POINT_COLUMNS`."""
    return _empty(POINT_COLUMNS)


def empty_runs() -> pd.DataFrame:
    """An empty runs table with the columns and dtypes of :data:`RUN_COLUMNS`."""
    return _empty(RUN_COLUMNS)


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    key = tuple(columns.items())
    tpl = _EMPTY.get(key)
    if tpl is None:
        tpl = _EMPTY[key] = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
    return tpl.copy(deep=False)  # copy-on-write: a caller's change never reaches the template


_EMPTY: dict[tuple, pd.DataFrame] = {}


def _columns(df: pd.DataFrame, columns: dict[str, str], table: str,
             where: str | None) -> dict[str, pd.Series]:
    """Each schema column of ``df`` in its dtype (a missing one empty)."""
    out = {}
    n = len(df)
    nulls = None  # one all-missing Arrow array (immutable) under every absent string column
    for col, dtype in columns.items():
        if col not in df.columns:
            if dtype == "string":
                if nulls is None:
                    import pyarrow as pa

                    nulls = pa.nulls(n, pa.large_string())
                # a pandas array of its own per column: setting a value in one replaces that
                # column's Arrow data, not the shared buffers
                out[col] = pd.Series(pd.array(nulls, dtype="string"), index=df.index, copy=False)
            else:  # no list of a million NaN/NA objects on the way
                out[col] = pd.Series(pd.arrays.IntegerArray(np.zeros(n, "int64"), np.ones(n, bool))
                                     if dtype == "Int64" else np.full(n, np.nan), dtype=dtype,
                                     index=df.index)
            continue
        s = df[col]
        if str(s.dtype) == dtype:  # already in the schema (an Int64 column holds only integers)
            out[col] = s
            continue
        try:
            if dtype == "float64":
                s = pd.to_numeric(s, errors="raise").astype("float64")
            elif dtype == "Int64":
                num = pd.to_numeric(s, errors="raise")
                frac = np.asarray(num, dtype="float64")
                fin = np.isfinite(frac)
                if np.any(fin & (frac != np.round(frac))):
                    raise ValueError("non-integer step")
                if np.any(np.isinf(frac)):
                    raise ValueError("infinite step")
                s = num.round().astype("Int64")
            else:
                s = s.astype("string")
        except (ValueError, TypeError) as exc:
            raise SchemaError(
                f"column {col!r} of the {table} table must be {dtype}: {exc}", where=where
            ) from None
        out[col] = s
    return out


def _coerce(df: pd.DataFrame, columns: dict[str, str], table: str, where: str | None) -> pd.DataFrame:
    missing = [c for c in ("run",) if c not in df.columns]
    if table == "points":
        missing += [c for c in ("metric", "value") if c not in df.columns]
    if missing:
        raise SchemaError(
            f"{table} table lacks column(s) {missing}; expected {list(columns)}",
            where=where,
        )
    if list(df.columns) == list(columns) and all(
            str(t) == columns[c] for c, t in df.dtypes.items()):
        # already in the schema (a reader's own frame): a shallow copy, not column by column
        res = df.copy(deep=False)  # copy-on-write keeps the input safe
    else:
        res = pd.DataFrame(_columns(df, columns, table, where), index=df.index,
                           copy=False)  # copy-on-write keeps inputs safe
    if res["run"].isna().any():
        raise SchemaError(f"{table} table has rows with no run name", where=where)
    if isinstance(res.index, pd.RangeIndex) and res.index.start == 0 and res.index.step == 1:
        return res
    return res.reset_index(drop=True)


def validate_points(df: pd.DataFrame, where: str | None = None) -> pd.DataFrame:
    """Return ``df`` coerced to the points schema; raise :class:`SchemaError` if it cannot be."""
    res = _coerce(df, POINT_COLUMNS, "points", where)
    if res["metric"].isna().any():
        raise SchemaError("points table has rows with no metric name", where=where)
    return res


def _has_repeats(names: pd.Series) -> bool:
    """Whether a string column repeats a value: sorted in Arrow, neighbours compared. pandas'
    ``duplicated`` boxes a Python string per row and Arrow's hash count keeps its table in its
    pool, ~100 MB either way for a million runs; this takes ~15 MB."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(names) < 2:
        return False
    pool = pa.system_memory_pool()
    arr = pa.chunked_array(names.array.__arrow_array__())
    srt = pc.take(arr, pc.sort_indices(arr, memory_pool=pool), memory_pool=pool)
    return bool(pc.any(pc.equal(srt[1:], srt[:-1], memory_pool=pool)).as_py())


def validate_runs(df: pd.DataFrame, where: str | None = None) -> pd.DataFrame:
    """Return ``df`` coerced to the runs schema; raise :class:`SchemaError` if it cannot be."""
    res = _coerce(df, RUN_COLUMNS, "runs", where)
    if _has_repeats(res["run"]) and res["run"].duplicated().any():
        dup = res.loc[res["run"].duplicated(), "run"].iloc[0]
        raise SchemaError(f"runs table lists run {dup!r} more than once", where=where)
    for col in ("params", "params_total", "tokens_total", "flops_total"):
        v = res[col].to_numpy(dtype="float64")
        bad = np.isfinite(v) & (v <= 0)
        if bad.any():
            run = res.loc[bad, "run"].iloc[0]
            raise SchemaError(
                f"run {run!r} has {col} = {v[bad][0]!r}; it must be positive", where=where
            )
    return res


def is_missing(x: object) -> bool:
    """True for None, NaN and pandas NA."""
    if x is None or x is pd.NA:
        return True
    try:
        return isinstance(x, float) and math.isnan(x)
    except TypeError:
        return False


def metrics_of(points: pd.DataFrame, runs: Iterable[str] | None = None) -> list[str]:
    """Sorted names of the metrics in ``points`` (of the given ``runs`` only, when given)."""
    sel = points if runs is None else points[points["run"].isin(list(runs))]
    return sorted(sel["metric"].dropna().unique().tolist())
