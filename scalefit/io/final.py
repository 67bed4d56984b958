"""Final-loss tables: one row per run with N, D and/or C and one or more losses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.io.columns import C_NAMES, D_NAMES, N_NAMES, RUN_NAMES, norm, pick_column
from scalefit.io.frames import points_frame
from scalefit.io.numbers import numeric_column
from scalefit.io.reader import Options, Parsed
from scalefit.io.runinfo import RunInfo
from scalefit.io.table import Table


def final_from_table(tbl: Table, path: Path, opts: Options, name: str) -> Parsed:
    """One row per run: N, D and/or C, and one or more losses; each row becomes a run."""
    where = str(path)
    cols = tbl.column_names
    if tbl.num_rows == 0:
        raise InputError("the table has a header but no rows", where=where)
    numeric, text = _typed_columns(tbl, where)
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
    names = _run_names(tbl, run_col, opts.run or name)
    check_unique_runs(names, run_col, where)
    used = {n_col, d_col, c_col, run_col, *loss_cols}
    tag_vals = {c: (numeric[c][0] if c in numeric else text[c].astype(object).to_numpy())
                for c in cols if c not in used}
    sizes = [(fld, c, numeric[c][0]) for fld, c in
             (("params", n_col), ("tokens_total", d_col), ("flops_total", c_col)) if c]
    infos = [_row_info(i, run, where, sizes, tag_vals) for i, run in enumerate(names)]
    frames = []
    run_arr = np.asarray(names, dtype=object)
    for lc in loss_cols:
        v, ok = numeric[lc]
        frames.append(points_frame(run_arr[ok], np.full(int(ok.sum()), np.nan), lc, v[ok]))
    return Parsed(infos, frames, list(getattr(tbl, "notes", [])))


def _typed_columns(tbl, where: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                             dict[str, pd.Series]]:
    """The numeric columns as (values, present), and the text columns."""
    numeric: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    text: dict[str, pd.Series] = {}
    for c in tbl.column_names:
        res = numeric_column(tbl.column(c), c, where) if not _is_text(tbl.column(c)) else None
        if res is None:
            text[c] = pd.Series(tbl.column(c), dtype="string")
        else:
            numeric[c] = res
    return numeric, text


def _run_names(tbl, run_col: str | None, prefix: str) -> list[str]:
    """Each row's run: its run column, or ``<prefix>-<row>`` where it names none."""
    if run_col is None:
        return [f"{prefix}-{i}" for i in range(tbl.num_rows)]
    names = pd.Series(tbl.column(run_col), dtype="string").astype(object).tolist()
    return [f"{prefix}-{i}" if v is None or v is pd.NA else str(v) for i, v in enumerate(names)]


def _row_info(i: int, run: str, where: str, sizes: list[tuple[str, str, np.ndarray]],
              tag_vals: dict[str, np.ndarray]) -> RunInfo:
    """Row ``i`` as a run: its sizes (field, column, values) and the other columns as tags."""
    info = RunInfo(run, source=where)
    info.meta["format"] = "final"
    info.meta["row"] = i
    for fld, c, vals in sizes:
        info.set(fld, vals[i], f"column {c!r}")
    for c, vals in tag_vals.items():
        v = vals[i]
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        info.tags[c] = v.item() if isinstance(v, np.generic) else v
    return info


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
