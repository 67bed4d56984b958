"""Points frames in the store schema, built from the readers' arrays without per-row Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

POINT_FIELDS = ["run", "step", "tokens", "flops", "lr", "metric", "value"]


def strings(x: str | ArrayLike | tuple[ArrayLike, Sequence[Any]],
            n: int) -> pd.api.extensions.ExtensionArray:
    """A pandas string array of length ``n`` from a scalar, a ``(codes, names)`` pair or values.

    The first two are built as Arrow arrays and wrapped without a copy: boxing one Python
    string per row, or casting a dictionary array and converting it again, costs more than
    reading the file did.
    """
    import pyarrow as pa

    if isinstance(x, str):
        # one name on every row: the offsets are a range and the characters one repeat
        b = x.encode()
        off = (np.arange(0, (n + 1) * len(b), len(b), dtype="int64") if b
               else np.zeros(n + 1, dtype="int64"))
        arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(off), pa.py_buffer(b * n))
        return pd.arrays.ArrowStringArray(arr)
    if isinstance(x, tuple):
        codes, names = x
        codes = np.asarray(codes, dtype="int32")
        if len(names) == 1:
            return strings(str(names[0]), n)
        starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        if len(starts) < min(n // 64, 4096):
            return _string_blocks(codes, starts, [str(v) for v in names], n)
        arr = pa.array([str(v) for v in names], pa.large_string()).take(pa.array(codes))
        return pd.arrays.ArrowStringArray(arr)
    return pd.array(np.asarray(x, dtype=object), dtype="string")


def _string_blocks(codes: np.ndarray, starts: np.ndarray, names: list[str], n: int):
    """:func:`strings` of codes that stay the same over long blocks (points sorted by run
    and metric): each block's offsets are a range and its characters one repeated name."""
    import pyarrow as pa

    lo = [0, *starts.tolist()]
    hi = [*lo[1:], n]
    enc = [s.encode() for s in names]
    off = np.empty(n + 1, dtype="int64")
    off[0] = 0
    pos = 0
    for a, b in zip(lo, hi, strict=True):
        size = len(enc[codes[a]])
        end = pos + (b - a) * size
        off[a + 1:b + 1] = np.arange(pos + size, end + 1, size, dtype="int64") if size else pos
        pos = end
    chars = np.empty(pos, dtype="uint8")
    for a, b in zip(lo, hi, strict=True):
        name = enc[codes[a]]
        if name:  # bytes repeat by doubling copies: faster than numpy's broadcast of a row
            chars[off[a]:off[b]] = np.frombuffer(name * (b - a), dtype="uint8")
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(off), pa.py_buffer(chars))
    return pd.arrays.ArrowStringArray(arr)


def points_frame(run: str | ArrayLike | tuple[ArrayLike, Sequence[Any]], step: ArrayLike,
                 metric: str | ArrayLike | tuple[ArrayLike, Sequence[Any]], value: ArrayLike,
                 tokens: ArrayLike | None = None, flops: ArrayLike | None = None,
                 lr: ArrayLike | None = None) -> pd.DataFrame:
    """A points frame in the store schema from arrays (scalars broadcast).

    ``run`` and ``metric`` may be a string, an array of strings, or ``(codes, names)``. The
    float arrays become the frame's columns as they are (no copy, no consolidation into one
    block), so a caller must not change them afterwards.
    """
    value = np.asarray(value, dtype="float64")
    n = len(value)
    taken: list[np.ndarray] = []

    def col(x):
        if x is None:
            return np.full(n, np.nan)
        a = np.asarray(x, dtype="float64")
        if a.ndim == 0:
            return np.broadcast_to(a, (n,)).copy()
        # each column its own writable array: a frame's column may be set in place
        if not a.flags.writeable or any(np.may_share_memory(a, b) for b in taken):
            a = a.copy()
        taken.append(a)
        return a

    st = np.asarray(step, dtype="float64")
    st = np.broadcast_to(st, (n,)) if st.ndim == 0 else st
    miss = np.isnan(st)
    if miss.any():
        step_arr = pd.arrays.IntegerArray(np.where(miss, 0, st).astype("int64"), miss)
    else:
        step_arr = pd.arrays.IntegerArray(st.astype("int64"), miss)
    value = col(value)
    return pd.DataFrame({
        "run": strings(run, n),
        "step": step_arr,
        "tokens": col(tokens),
        "flops": col(flops),
        "lr": col(lr),
        "metric": strings(metric, n),
        "value": value,
    }, copy=False)


@dataclass
class Chunk:
    """Points of one run as plain arrays; many chunks become one frame in a single step.

    Building a DataFrame (and its string columns) per file costs more than parsing a small
    file, so readers of wide tables hand back chunks and :func:`frame_from_chunks` joins them.
    """

    run: str
    step: np.ndarray
    metric_codes: np.ndarray
    metric_names: list[str]
    value: np.ndarray
    tokens: np.ndarray | None = None
    flops: np.ndarray | None = None
    lr: np.ndarray | None = None
    monotone: bool = False  # steps strictly increase within each metric, one block per metric
    ordered: bool = False  # metric codes never decrease and metric_names are sorted

    def __len__(self) -> int:
        return len(self.value)


def melt(run: str, step: np.ndarray, names: list[str], values: np.ndarray, present: np.ndarray,
         tokens: np.ndarray | None = None, flops: np.ndarray | None = None,
         lr: np.ndarray | None = None) -> Chunk:
    """Wide (rows x metrics) to long points, without Python loops over rows.

    ``present`` marks logged cells: an empty cell is "not logged at this step" and is dropped,
    while a logged NaN or inf stays (cleaning counts and drops it later).
    """
    return melt_t(run, step, names, values.T, present.T, tokens, flops, lr)


def melt_t(run: str, step: np.ndarray, names: list[str], values: np.ndarray,
           present: np.ndarray, tokens: np.ndarray | None = None,
           flops: np.ndarray | None = None, lr: np.ndarray | None = None) -> Chunk:
    """:func:`melt` of metric-major blocks (metrics x rows).

    Points come out metric by metric in name order and in row order within a metric: boolean
    indexing of the blocks (the row arrays broadcast to them) gives that order directly. A
    block with every cell logged is taken as it is (one metric: the columns themselves).
    """
    names = list(names)
    if names != sorted(names):
        order = sorted(range(len(names)), key=names.__getitem__)
        names = [names[j] for j in order]
        values, present = values[order], present[order]
    m, n = values.shape
    full = bool(present.all())
    counts = np.full(m, n) if full else present.sum(axis=1)
    codes = np.repeat(np.arange(m, dtype="int32"), counts)

    def spread(a):
        if a is None:
            return None
        if full:
            return a if m == 1 else np.tile(a, m)
        return np.broadcast_to(a, (m, n))[present]

    monotone = len(set(names)) == len(names) and bool(np.all(np.diff(step) > 0))
    vals = values.reshape(-1) if full else values[present]
    return Chunk(run, spread(step), codes, names, vals, spread(tokens),
                 spread(flops), spread(lr), monotone, ordered=True)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """``parts`` end to end: the span of their parent array where they are adjacent slices of
    it (the runs of a long table), else one copy."""
    if len(parts) == 1:
        return parts[0]
    base = parts[0].base
    if (isinstance(base, np.ndarray) and base.ndim == 1 and base.flags.c_contiguous
            and all(p.base is base and p.dtype == base.dtype and p.flags.c_contiguous
                    for p in parts)):
        size = base.itemsize
        start = (parts[0].ctypes.data - base.ctypes.data) // size
        pos = start
        for p in parts:
            if (p.ctypes.data - base.ctypes.data) // size != pos:
                break
            pos += len(p)
        else:
            return base[start:pos]
    return np.concatenate(parts)


def frame_from_chunks(chunks: list[Chunk]) -> pd.DataFrame:
    """One points frame from many chunks: arrays joined once, strings built once.

    Rows come out sorted by (run, metric) name and, for monotone chunks, by step: the store's
    own order, so that merging them into a store moves no strings around.
    """
    chunks = sorted((c for c in chunks if len(c)), key=lambda c: c.run)  # stable: parts keep order
    if not chunks:
        return points_frame("", [], "", [])
    metric_names = sorted({m for c in chunks for m in c.metric_names})
    metric_ids = {m: i for i, m in enumerate(metric_names)}
    run_names = sorted({c.run for c in chunks})
    run_ids = {r: i for i, r in enumerate(run_names)}
    lens = np.array([len(c) for c in chunks])
    orders, codes = [], []
    for c in chunks:
        if c.ordered and c.metric_names == metric_names:
            orders.append(None)  # codes already index metric_names, in order
            codes.append(c.metric_codes)
            continue
        remap = np.array([metric_ids[m] for m in c.metric_names], dtype="int32")
        cc = remap[c.metric_codes]
        # a sorted remap keeps an ordered chunk in metric name order
        order = None if c.ordered else np.argsort(cc, kind="stable")
        orders.append(order)
        codes.append(cc if order is None else cc[order])

    def column(k):
        parts = [getattr(c, k) for c in chunks]
        if all(a is None for a in parts):
            return None
        parts = [np.full(len(c), np.nan) if a is None else a if o is None else a[o]
                 for c, a, o in zip(chunks, parts, orders, strict=True)]
        return _joined(parts)

    metric = _joined(codes)
    if len(run_names) == 1:
        run = run_names[0]
    else:
        run = (np.repeat(np.array([run_ids[c.run] for c in chunks], dtype="int32"), lens),
               run_names)
    return points_frame(run, column("step"), (metric, metric_names), column("value"),
                        column("tokens"), column("flops"), column("lr"))
