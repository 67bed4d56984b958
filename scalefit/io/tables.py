"""Delimited tables: wide and long CSV/TSV, W&B run-history exports, final-loss tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.io._common import (
    C_NAMES,
    D_NAMES,
    FLOPS_NAMES,
    LOSS_NAMES,
    N_NAMES,
    RUN_LEVEL,
    STEP_NAMES,
    SYSTEM_NAMES,
    TOKEN_NAMES,
    Chunk,
    Options,
    Parsed,
    RunInfo,
    check_steps,
    descending,
    find_column,
    flops_scale,
    lr_like,
    melt_t,
    norm,
    numeric_column,
    pick_column,
    points_frame,
    read_csv_table,
)

RUN_NAMES = ["run", "run_name", "name", "Name", "experiment"]
METRIC_NAMES = ["metric", "key", "tag", "series"]
VALUE_NAMES = ["value", "val", "y"]


def classify(columns: list[str]) -> str | None:
    """Which table kind a header announces: wandb, wandb-panel, long, wide, final (or None)."""
    if "_step" in columns:
        return "wandb"
    step = find_column(columns, STEP_NAMES)
    if step is not None and any(" - " in c for c in columns if c != step):
        return "wandb-panel"
    if find_column(columns, METRIC_NAMES) and find_column(columns, VALUE_NAMES):
        return "long"
    if step is not None:
        return "wide"
    if find_column(columns, N_NAMES) and any("loss" in norm(c) for c in columns):
        return "final"
    if find_column(columns, TOKEN_NAMES) is not None:
        return "wide"  # a tokens axis without steps
    if find_column(columns, N_NAMES) and any("loss" in norm(c) for c in columns):
        return "final"
    return None


def read_csv(path: Path, opts: Options, name: str) -> Parsed:
    """CSV/TSV of any table kind, chosen from the header."""
    tbl = read_csv_table(path, opts.delimiter, digest=True)
    parsed = _read_table(tbl, path, opts, name)
    parsed.digest = tbl.digest
    return parsed


def _read_table(tbl, path: Path, opts: Options, name: str) -> Parsed:
    kind = "wide" if opts.step_col else classify(tbl.column_names)
    if kind in ("wide", "wandb"):
        return wide_from_table(tbl, path, opts, name, "wandb" if kind == "wandb" else "csv")
    if kind == "long":
        return _long(tbl, path, opts, name)
    if kind == "final":
        return _final(tbl, path, opts, name)
    if kind == "wandb-panel":
        from scalefit.io.wandb import panel_from_table

        return panel_from_table(tbl, path, opts, name)
    raise InputError(
        f"cannot tell the table kind from its columns {tbl.column_names[:8]}: no step column "
        "(step, _step, iter, global_step ...) and no final-loss columns (N and loss)",
        where=str(path), hint="name the step column with --step-col or pick --format",
    )


def read_wandb_history(path: Path, opts: Options, name: str) -> Parsed:
    tbl = read_csv_table(path, opts.delimiter, digest=True)
    parsed = wide_from_table(tbl, path, opts, name, "wandb")
    parsed.digest = tbl.digest
    return parsed


def read_final(path: Path, opts: Options, name: str) -> Parsed:
    return _final(read_csv_table(path, opts.delimiter), path, opts, name)


# ----------------------------------------------------------------------------- wide
def wide_from_table(tbl, path: Path, opts: Options, name: str, fmt: str = "csv") -> Parsed:
    """One row per logged step (per run if a run column is present), one column per metric."""
    where = str(path)
    cols = tbl.column_names
    if tbl.num_rows == 0:
        raise InputError("the table has a header but no rows", where=where)
    step_col = pick_column(cols, opts.step_col, STEP_NAMES, "step", where)
    tok_col = pick_column(cols, opts.tokens_col, TOKEN_NAMES, "tokens", where)
    if step_col is None and tok_col is None:
        raise InputError(f"no step column among {cols[:8]}", where=where,
                         hint="name it with --step-col")
    lr_col = pick_column(cols, opts.lr_col, [], "lr", where) or next(
        (c for c in cols if lr_like(c)), None)
    fl_col = pick_column(cols, opts.flops_col, list(FLOPS_NAMES), "flops", where)
    run_col = pick_column(cols, opts.run_col, [], "run", where)
    if opts.loss_col is not None:
        pick_column(cols, opts.loss_col, [], "loss", where)
    special = {step_col, tok_col, lr_col, fl_col}
    if run_col is None:
        cand = find_column(cols, RUN_NAMES)
        if cand is not None and cand not in special:
            run_col = cand

    num, notes = numeric_block(tbl, path, exclude={run_col}, required=special)
    notes = getattr(tbl, "notes", []) + notes

    step_note = None
    if step_col is None:
        # only a tokens axis: one row has no step; several rows are numbered in file order
        n = tbl.num_rows
        step = np.full(1, np.nan) if n == 1 else np.arange(n, dtype="float64")
        step_note = None if n == 1 else "row number (the file has a tokens column but no steps)"
        step_ok = np.ones(n, bool)
    else:
        step_raw, step_ok = num[step_col]
        step = check_steps(step_raw if step_ok is None else np.where(step_ok, step_raw, np.nan),
                           where, step_col, integral=tbl.array(step_col).dtype.kind in "iu")
    if step_col is not None and np.isnan(step).any():
        notes.append(f"{path.name}: {int(np.isnan(step).sum())} row(s) without a step skipped")

    run_level = {c: RUN_LEVEL[norm(c)] for c in num if norm(c) in RUN_LEVEL and c not in special}
    keep = [c for c in num
            if c not in special and c not in run_level and c != run_col
            and norm(c) not in SYSTEM_NAMES and not c.startswith("_")]
    if opts.metrics:
        missing = [m for m in opts.metrics if m not in num]
        if missing:
            raise InputError(f"no column {missing[0]!r}", where=where)
        keep = [c for c in keep if c in opts.metrics]
    if not keep:
        raise InputError(f"no metric columns besides the step column {step_col!r}", where=where,
                         hint="a loss column such as 'loss' or 'train/loss' is expected")
    # metric-major blocks (metrics x rows), metrics in name order: the store's order
    names = sorted(keep)
    # one metric (most logs): the column itself, no copy
    values = (num[names[0]][0][None, :] if len(names) == 1
              else np.stack([num[c][0] for c in names]))
    present = ~np.isnan(values)
    for j, c in enumerate(names):
        if num[c][1] is not None:
            present[j] = num[c][1]
    if step_col is not None:
        present &= ~np.isnan(step)
    if not present.any():  # a run with no points is no run
        raise InputError(f"no values logged in the metric column(s) {keep[:4]}"
                         + ("" if step_col is None else " on rows with a step"), where=where)
    # tokens, lr and FLOPs attach to every point of their step, also on rows that lack them
    tokens = by_step(step, num[tok_col][0]) if tok_col else None
    lr = by_step(step, num[lr_col][0]) if lr_col else None
    flops = by_step(step, num[fl_col][0] * flops_scale(fl_col)) if fl_col else None

    if run_col is None:
        groups = [(name, None)]  # every row
    else:
        labels = pd.Series(tbl.column(run_col), dtype="string")
        if labels.isna().any():
            raise InputError(f"column {run_col!r} has rows with no run name", where=where)
        groups = [(str(r), (labels == r).to_numpy(dtype=bool)) for r in pd.unique(labels)]

    infos, frames = [], []
    loss_metric = opts.loss_col or find_column(keep, LOSS_NAMES)
    for run, rows in groups:
        info = RunInfo(run, source=where)
        info.meta["format"] = fmt
        if step_note:
            info.meta["step_from"] = step_note
        if loss_metric:
            info.meta["loss_metric"] = loss_metric
        info.from_name(run)
        for c, fld in run_level.items():
            v = _last(_rows(num[c][0], rows))
            if v is not None:
                if fld.startswith("meta:"):
                    info.meta[fld[5:]] = v
                else:
                    info.set(fld, v, f"column {c!r}")
        if tok_col:
            v = _max(_rows(tokens, rows))
            if v is not None:
                info.set("tokens_total", v, f"column {tok_col!r} (last value)")
        if fl_col:
            v = _max(_rows(flops, rows))
            if v is not None:
                info.set("flops_total", v, f"column {fl_col!r} (last value)")
        if lr_col:
            v = _max(_rows(lr, rows))
            if v is not None and "lr_max" not in info.values:
                info.set("lr_max", v, f"column {lr_col!r} (max)")
        sel = None if len(groups) == 1 else np.flatnonzero(rows)
        if descending(step if sel is None else step[sel]):
            # an export sorted newest first (W&B tables can be): a sort order, not restarts
            sel = (np.arange(len(step)) if sel is None else sel)[::-1]
            notes.append(f"{path.name}: run {run!r} is in descending step order; read in "
                         "ascending order")
        if sel is None:
            frames.append(melt_t(run, step, names, values, present, tokens, flops, lr))
        else:
            frames.append(melt_t(
                run, step[sel], names, values[:, sel], present[:, sel],
                None if tokens is None else tokens[sel],
                None if flops is None else flops[sel],
                None if lr is None else lr[sel],
            ))
        infos.append(info)
    return Parsed(infos, frames, notes)


def numeric_block(tbl, path: Path, exclude=(), required=()) -> tuple[dict, list[str]]:
    """Numeric columns as ``{name: (values, present)}``; text columns are skipped with a note.

    ``present`` is None where it is just ``~isnan(values)`` (every numeric column: an empty
    cell is NaN there), so that wide logs need not build a mask per column; text columns
    that hold numbers carry their own mask (a logged ``nan`` word is present).
    """
    where = str(path)
    num: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    notes: list[str] = []
    for c in tbl.column_names:
        if c in exclude:
            continue
        a = tbl.array(c)
        kind = a.dtype.kind
        if kind == "f" and isinstance(a, np.ndarray):
            num[c] = (a if a.dtype == np.float64 else a.astype("float64"), None)
            continue
        if kind in "iu":
            vals = (a.astype("float64") if isinstance(a, np.ndarray)
                    else a.to_numpy(dtype="float64", na_value=np.nan))
            num[c] = (vals, None)
            continue
        # true/false is a flag (a text column), never a metric of 1.0/0.0
        res = None if kind == "b" else numeric_column(tbl.column(c), c, where)
        if res is None:
            if c in required:
                raise InputError(f"column {c!r} is not numeric", where=where)
            notes.append(f"{path.name}: text column {c!r} ignored")
            continue
        num[c] = res
    return num, notes


def present_of(entry: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
    vals, pres = entry
    return ~np.isnan(vals) if pres is None else pres


def by_step(step: np.ndarray, aux: np.ndarray) -> np.ndarray:
    """``aux`` spread to every row of the same step (the last logged value of that step)."""
    ok = np.isfinite(aux)
    if ok.all() or step_col_missing(step):
        return aux
    fin = ok & np.isfinite(step)
    s = pd.Series(aux[fin], index=step[fin])
    s = s[~s.index.duplicated(keep="last")]
    return s.reindex(step).to_numpy(dtype="float64")


def step_col_missing(step: np.ndarray) -> bool:
    return len(step) == 1 and np.isnan(step[0])


def _rows(a: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return a if rows is None else a[rows]


def _last(a: np.ndarray) -> float | None:
    fin = a[np.isfinite(a)]
    return float(fin[-1]) if len(fin) else None


def _max(a: np.ndarray) -> float | None:
    top = float(a.max()) if len(a) else np.nan
    if np.isfinite(top):  # no NaN and no inf: one pass
        return top
    fin = a[np.isfinite(a)]
    return float(fin.max()) if len(fin) else None


# ----------------------------------------------------------------------------- long
def _long(tbl, path: Path, opts: Options, name: str) -> Parsed:
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
    vals = numeric_column(tbl.array(value_col), value_col, where)
    if vals is None:
        raise InputError(f"column {value_col!r} is not numeric", where=where)
    value, ok = vals
    n = tbl.num_rows
    if step_col:
        s, sok = numeric_column(tbl.array(step_col), step_col, where) or (None, None)
        if s is None:
            raise InputError(f"column {step_col!r} is not numeric", where=where)
        step = check_steps(s if sok is None or sok.all() else np.where(sok, s, np.nan),
                           where, step_col, integral=tbl.array(step_col).dtype.kind in "iu")
    else:
        step = np.full(n, np.nan)
    extra = {}
    for key, option, cands in (("tokens", opts.tokens_col, TOKEN_NAMES),
                               ("lr", opts.lr_col, ["lr", "learning_rate"]),
                               ("flops", opts.flops_col, ["flops"])):
        c = pick_column(cols, option, cands, key, where)
        if c is not None:
            res = numeric_column(tbl.array(c), c, where)
            extra[key] = None if res is None else res[0]
    # names as (codes, names): a million rows name a handful of runs and metrics
    m_codes, m_names = _labels(tbl, metric_col)
    if (m_codes < 0).any():
        raise InputError(f"column {metric_col!r} has rows with no metric name", where=where)
    if run_col:
        r_codes, r_names = _labels(tbl, run_col)
        if (r_codes < 0).any():
            raise InputError(f"column {run_col!r} has rows with no run name", where=where)
    else:
        r_codes, r_names = np.zeros(n, dtype="int32"), [name]
    # rows in the store's order: by run and metric name, file order within each; one key per
    # row, sorted once (a radix sort while the keys fit in 16 bits), or not at all when the
    # file is in that order already
    r_rank, r_sorted = _ranks(r_names)
    m_rank, m_sorted = _ranks(m_names)
    n_m = len(m_sorted)
    kdt = "uint16" if len(r_sorted) * n_m <= 1 << 16 else "int64"
    key = r_rank.astype(kdt)[r_codes] * np.array(n_m, kdt) + m_rank.astype(kdt)[m_codes]
    order = None if ok.all() else np.flatnonzero(ok)
    if order is not None:
        key = key[order]
    if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
        by_key = np.argsort(key, kind="stable")
        order = by_key if order is None else order[by_key]
        key = key[by_key]

    def pick(a):
        return a if order is None else a[order]

    step, value = pick(step), pick(value)
    ex = {k: None if extra.get(k) is None else pick(extra[k]) for k in ("tokens", "flops", "lr")}
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
        # one chunk per run: slices of the sorted arrays, joined again without a copy
        r = int(run_of[lo])
        sl = slice(lo, hi)
        frames.append(Chunk(r_sorted[r], step[sl], metric[sl], m_sorted, value[sl],
                            *(None if ex[k] is None else ex[k][sl]
                              for k in ("tokens", "flops", "lr")),
                            monotone=not bad_run[r], ordered=True))
    infos = []
    for r in r_names:
        info = RunInfo(str(r), source=where)
        info.meta["format"] = "csv-long"
        info.from_name()
        infos.append(info)
    return Parsed(infos, frames, list(getattr(tbl, "notes", [])))


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


# ----------------------------------------------------------------------------- final-loss table
def _final(tbl, path: Path, opts: Options, name: str) -> Parsed:
    """One row per run: N, D and/or C, and one or more losses; each row becomes a run."""
    where = str(path)
    cols = tbl.column_names
    if tbl.num_rows == 0:
        raise InputError("the table has a header but no rows", where=where)
    numeric: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    text: dict[str, pd.Series] = {}
    for c in cols:
        res = numeric_column(tbl.column(c), c, where) if not _is_text(tbl.column(c)) else None
        if res is None:
            text[c] = pd.Series(tbl.column(c), dtype="string")
        else:
            numeric[c] = res
    ncols = list(numeric)
    n_col = pick_column(ncols, opts.params_col, N_NAMES, "params", where)
    d_col = pick_column(ncols, opts.tokens_col, D_NAMES, "tokens", where)
    c_col = pick_column(ncols, opts.flops_col, C_NAMES, "flops", where)
    if opts.loss_col:
        loss_cols = [pick_column(ncols, opts.loss_col, [], "loss", where)]
    else:
        loss_cols = [c for c in ncols if "loss" in norm(c) and c not in (n_col, d_col, c_col)]
    if not loss_cols:
        raise InputError(f"no numeric loss column among {cols[:8]}", where=where,
                         hint="name it with --loss-col")
    if n_col is None and opts.params is None:
        raise InputError("no parameter-count column (N, params, Model Size ...)", where=where,
                         hint="name it with --params-col or give --params")
    run_col = pick_column(cols, opts.run_col, RUN_NAMES, "run", where)
    n = tbl.num_rows
    prefix = opts.run or name
    if run_col is not None:
        names = pd.Series(tbl.column(run_col), dtype="string").astype(object).tolist()
        names = [f"{prefix}-{i}" if v is None or v is pd.NA else str(v) for i, v in enumerate(names)]
    else:
        names = [f"{prefix}-{i}" for i in range(n)]
    check_unique_runs(names, run_col, where)
    used = {n_col, d_col, c_col, run_col, *loss_cols}
    tag_cols = [c for c in cols if c not in used]
    tag_vals = {c: (numeric[c][0] if c in numeric else text[c].astype(object).to_numpy())
                for c in tag_cols}
    infos = []
    for i, run in enumerate(names):
        info = RunInfo(run, source=where)
        info.meta["format"] = "final"
        info.meta["row"] = i
        if n_col:
            info.set("params", numeric[n_col][0][i], f"column {n_col!r}")
        if d_col:
            info.set("tokens_total", numeric[d_col][0][i], f"column {d_col!r}")
        if c_col:
            info.set("flops_total", numeric[c_col][0][i], f"column {c_col!r}")
        for c in tag_cols:
            v = tag_vals[c][i]
            if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
                continue
            info.tags[c] = v.item() if isinstance(v, np.generic) else v
        infos.append(info)
    frames = []
    run_arr = np.asarray(names, dtype=object)
    for lc in loss_cols:
        v, ok = numeric[lc]
        frames.append(points_frame(run_arr[ok], np.full(int(ok.sum()), np.nan), lc, v[ok]))
    return Parsed(infos, frames, list(getattr(tbl, "notes", [])))


def check_unique_runs(names: list[str], run_col: str | None, where: str) -> None:
    """A final-loss table has one row per run: a run named twice is refused, since which
    row to keep is the user's call (the later row would otherwise win silently)."""
    seen = pd.Series(names, dtype=object)
    dup = seen.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    run = seen[dup].iloc[0]
    rows = (np.flatnonzero(seen.to_numpy() == run) + 1).tolist()
    shown = " and ".join(map(str, rows)) if len(rows) <= 3 else (
        f"{', '.join(map(str, rows[:3]))} ... ({len(rows)} rows)")
    raise InputError(f"column {run_col!r} names a run more than once: run {run!r} on data "
                     f"rows {shown}", where=where,
                     hint="a final-loss table has one row per run: remove or rename the "
                          "repeated rows")


def _is_text(col: pd.Series) -> bool:
    """Hex colours, config names: text columns that must not be parsed as numbers."""
    if col.dtype.kind in "fiub":
        return False
    s = col.dropna()
    if len(s) == 0:
        return False
    return bool(pd.to_numeric(s.astype(object), errors="coerce").isna().all())
