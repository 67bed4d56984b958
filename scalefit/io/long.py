"""Long tables (one row per point: run, step, metric, value) to points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.io.columns import (
    METRIC_NAMES,
    RUN_NAMES,
    STEP_NAMES,
    TOKEN_NAMES,
    VALUE_NAMES,
    pick_column,
)
from scalefit.io.frames import Chunk
from scalefit.io.numbers import check_steps, numeric_column
from scalefit.io.reader import Options, Parsed
from scalefit.io.runinfo import RunInfo
from scalefit.io.table import Table

#: the optional per-point columns, in the order of Chunk's fields
EXTRA = ("tokens", "flops", "lr")


def long_from_table(tbl: Table, path: Path, opts: Options, name: str) -> Parsed:
    """Points from a long table, one chunk per run, rows in the store's order."""
    where = str(path)
    cols = tbl.column_names
    if tbl.num_rows == 0:
        raise InputError("the table has a header but no rows", where=where)
    metric_col = pick_column(cols, opts.metric_col, METRIC_NAMES, "metric", where)
    value_col = pick_column(cols, opts.value_col, VALUE_NAMES, "value", where)
    step_col = pick_column(cols, opts.step_col, STEP_NAMES, "step", where)
    run_col = pick_column(cols, opts.run_col, RUN_NAMES, "run", where)
    if metric_col is None or value_col is None:
        raise InputError("a long table needs metric and value columns", where=where)
    value, ok, step = _values_and_steps(tbl, value_col, step_col, where)
    extra = _extra_columns(tbl, opts, where)
    # names as (codes, names): a million rows name a handful of runs and metrics
    m_codes, m_names = _names(tbl, metric_col, "metric", where)
    if run_col:
        r_codes, r_names = _names(tbl, run_col, "run", where)
    else:
        r_codes, r_names = np.zeros(tbl.num_rows, dtype="int32"), [name]
    r_rank, r_sorted = _ranks(r_names)
    m_rank, m_sorted = _ranks(m_names)
    key, order = _store_order(r_rank, r_codes, m_rank, m_codes, ok)

    def pick(a):
        return a if order is None else a[order]

    ex = [None if extra.get(k) is None else pick(extra[k]) for k in EXTRA]
    frames = _run_chunks(key, r_sorted, m_sorted, pick(step), pick(value), ex)
    infos = []
    for r in r_names:
        info = RunInfo(str(r), source=where)
        info.meta["format"] = "csv-long"
        info.from_name()
        infos.append(info)
    return Parsed(infos, frames, list(getattr(tbl, "notes", [])))


def _values_and_steps(tbl, value_col: str, step_col: str | None,
                      where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, logged cells, steps): NaN steps where the table has no step column."""
    vals = numeric_column(tbl.array(value_col), value_col, where)
    if vals is None:
        raise InputError(f"column {value_col!r} is not numeric", where=where)
    value, ok = vals
    if not step_col:
        return value, ok, np.full(tbl.num_rows, np.nan)
    s, sok = numeric_column(tbl.array(step_col), step_col, where) or (None, None)
    if s is None:
        raise InputError(f"column {step_col!r} is not numeric", where=where)
    step = check_steps(s if sok is None or sok.all() else np.where(sok, s, np.nan),
                       where, step_col, integral=tbl.array(step_col).dtype.kind in "iu")
    return value, ok, step


def _extra_columns(tbl, opts: Options, where: str) -> dict[str, np.ndarray | None]:
    """Tokens, lr and FLOPs per row, where the table has them."""
    extra = {}
    for key, option, cands in (("tokens", opts.tokens_col, TOKEN_NAMES),
                               ("lr", opts.lr_col, ["lr", "learning_rate"]),
                               ("flops", opts.flops_col, ["flops"])):
        c = pick_column(tbl.column_names, option, cands, key, where)
        if c is not None:
            res = numeric_column(tbl.array(c), c, where)
            extra[key] = None if res is None else res[0]
    return extra


def _names(tbl, col: str, what: str, where: str) -> tuple[np.ndarray, list[str]]:
    """:func:`_labels` of a run or metric column, where every row must name one."""
    codes, names = _labels(tbl, col)
    if (codes < 0).any():
        raise InputError(f"column {col!r} has rows with no {what} name", where=where)
    return codes, names


def _store_order(r_rank: np.ndarray, r_codes: np.ndarray, m_rank: np.ndarray,
                 m_codes: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(key, order): the logged rows in the store's order, by run and metric name and file
    order within each, and each row's key ``run rank * n_m + metric rank``.

    One key per row, sorted once (a radix sort while the keys fit in 16 bits), or not at all
    when the file is in that order already (order None: every row, as it is).
    """
    n_m = len(m_rank)
    kdt = "uint16" if len(r_rank) * n_m <= 1 << 16 else "int64"
    key = r_rank.astype(kdt)[r_codes] * np.array(n_m, kdt) + m_rank.astype(kdt)[m_codes]
    order = None if ok.all() else np.flatnonzero(ok)
    if order is not None:
        key = key[order]
    if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
        by_key = np.argsort(key, kind="stable")
        order = by_key if order is None else order[by_key]
        key = key[by_key]
    return key, order


def _run_chunks(key: np.ndarray, r_sorted: list[str], m_sorted: list[str], step: np.ndarray,
                value: np.ndarray, extra: list[np.ndarray | None]) -> list[Chunk]:
    """One chunk per run from rows in the store's order: slices of the sorted arrays, joined
    again without a copy."""
    n_m = len(m_sorted)
    run_of = (key // n_m).astype("int32")
    metric = (key % n_m).astype("int32")
    # a run whose steps increase per metric skips the restart check
    same = key[1:] == key[:-1]
    bad_run = np.zeros(len(r_sorted), bool)
    bad_run[run_of[1:][same & ~(step[1:] > step[:-1])]] = True
    bad_run[run_of[np.isnan(step)]] = True
    bounds = np.flatnonzero(run_of[1:] != run_of[:-1]) + 1
    starts = np.concatenate([[0], bounds]) if len(key) else np.array([], int)
    ends = np.append(bounds, len(key)) if len(key) else starts
    frames = []
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        r = int(run_of[lo])
        sl = slice(lo, hi)
        frames.append(Chunk(r_sorted[r], step[sl], metric[sl], m_sorted, value[sl],
                            *(None if a is None else a[sl] for a in extra),
                            monotone=not bad_run[r], ordered=True))
    return frames


def _ranks(names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each name's position in name order, and the names in that order."""
    order = sorted(range(len(names)), key=names.__getitem__)
    rank = np.empty(len(names), dtype="int64")
    rank[order] = np.arange(len(names))
    return rank, [names[i] for i in order]


def _name_blocks(arr) -> tuple[np.ndarray, list[str]] | None:
    """:func:`_labels` of a column that repeats each name over long blocks (a long table
    grouped by run): one name hashed per block. None where the blocks are short."""
    import pyarrow.compute as pc

    n = len(arr)
    if n < 4096:
        return None
    head = arr.slice(0, 4096).combine_chunks()
    if pc.sum(pc.not_equal(head.slice(1), head.slice(0, 4095))).as_py() > 64:
        return None  # interleaved names (metrics): the hash table is quicker
    arr = arr.combine_chunks() if hasattr(arr, "combine_chunks") else arr
    same = pc.equal(arr.slice(1), arr.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.flatnonzero(~same) + 1])
    if len(starts) > n // 64:
        return None
    enc = pc.dictionary_encode(arr.take(starts))
    codes = np.repeat(enc.indices.to_numpy().astype("int32", copy=False),
                      np.diff(np.append(starts, n)))
    return codes, [str(u) for u in enc.dictionary.to_pylist()]


def _labels(tbl, col: str) -> tuple[np.ndarray, list[str]]:
    """(int32 codes, names in first-seen order) of a text column; code -1 is an empty cell."""
    arr = tbl.arrow(col)
    if arr is not None:  # Arrow's hash table over the parser's strings
        import pyarrow.compute as pc

        if arr.null_count == 0:
            blocks = _name_blocks(arr)
            if blocks is not None:
                return blocks
        enc = pc.dictionary_encode(arr).unify_dictionaries()
        if enc.num_chunks == 0:
            return np.zeros(0, "int32"), []
        codes = np.concatenate([c.indices.fill_null(-1).to_numpy(zero_copy_only=False)
                                for c in enc.chunks]).astype("int32", copy=False)
        return codes, [str(u) for u in enc.chunk(0).dictionary.to_pylist()]
    codes, uniques = pd.factorize(pd.Series(tbl.column(col), dtype="string"))
    return codes.astype("int32", copy=False), [str(u) for u in uniques]

