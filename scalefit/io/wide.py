"""Wide tables (one row per logged step, one column per metric) to points: the shape of CSV
exports, and of the records of JSON Lines, Trainer, TensorBoard and stdout logs."""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.io.columns import (
    FLOPS_NAMES,
    LOSS_NAMES,
    RUN_LEVEL,
    RUN_NAMES,
    STEP_NAMES,
    SYSTEM_NAMES,
    TOKEN_NAMES,
    find_column,
    flops_scale,
    lr_like,
    norm,
    pick_column,
)
from scalefit.io.frames import melt_t
from scalefit.io.numbers import check_steps, numeric_column
from scalefit.io.reader import Options, Parsed
from scalefit.io.restarts import descending
from scalefit.io.runinfo import RunInfo
from scalefit.io.table import Table


class Axes(NamedTuple):
    """The columns of a wide table that are not metrics (None where the table has none)."""

    step: str | None
    tokens: str | None
    lr: str | None
    flops: str | None
    run: str | None

    @property
    def special(self) -> set[str | None]:
        """The step, tokens, lr and FLOPs columns (None among them where absent): these are
        never read as metrics."""
        return {self.step, self.tokens, self.lr, self.flops}


class Aux(NamedTuple):
    """Tokens, FLOPs and learning rate per row (spread to every row of their step)."""

    tokens: np.ndarray | None
    flops: np.ndarray | None
    lr: np.ndarray | None

    def rows(self, sel: np.ndarray) -> Aux:
        """The three arrays taken at the row indices ``sel`` (None stays None)."""
        return Aux(*(None if a is None else a[sel] for a in self))


def wide_from_table(tbl: Table, path: Path, opts: Options, name: str, fmt: str = "csv") -> Parsed:
    """One row per logged step (per run if a run column is present), one column per metric."""
    where = str(path)
    if tbl.num_rows == 0:
        raise InputError("the table has a header but no rows", where=where)
    axes = pick_axes(tbl.column_names, opts, where)
    num, notes = numeric_block(tbl, path, exclude={axes.run}, required=axes.special)
    notes = getattr(tbl, "notes", []) + notes
    step, step_note = _step_axis(tbl, num, axes.step, path, notes)
    keep, run_level = _metric_columns(num, axes, opts, where)
    names, values, present = _metric_values(num, keep, step, axes.step, where)
    # tokens, lr and FLOPs attach to every point of their step, also on rows that lack them
    aux = Aux(by_step(step, num[axes.tokens][0]) if axes.tokens else None,
              by_step(step, num[axes.flops][0] * flops_scale(axes.flops)) if axes.flops else None,
              by_step(step, num[axes.lr][0]) if axes.lr else None)
    groups = _run_groups(tbl, axes.run, name, where)
    loss_metric = opts.loss_col or find_column(keep, LOSS_NAMES)
    infos, frames = [], []
    for run, rows in groups:
        info = RunInfo(run, source=where)
        info.meta["format"] = fmt
        if step_note:
            info.meta["step_from"] = step_note
        if loss_metric:
            info.meta["loss_metric"] = loss_metric
        info.from_name(run)
        _run_values(info, rows, num, run_level, axes, aux)
        sel = None if len(groups) == 1 else np.flatnonzero(rows)
        if descending(step if sel is None else step[sel]):
            # an export sorted newest first (W&B tables can be): a sort order, not restarts
            sel = (np.arange(len(step)) if sel is None else sel)[::-1]
            notes.append(f"{path.name}: run {run!r} is in descending step order; read in "
                         "ascending order")
        if sel is None:
            frames.append(melt_t(run, step, names, values, present, *aux))
        else:
            frames.append(melt_t(run, step[sel], names, values[:, sel], present[:, sel],
                                 *aux.rows(sel)))
        infos.append(info)
    return Parsed(infos, frames, notes)


def pick_axes(cols: list[str], opts: Options, where: str) -> Axes:
    """The step, tokens, lr, FLOPs and run columns, named by options or found by name."""
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
    if run_col is None:
        cand = find_column(cols, RUN_NAMES)
        if cand is not None and cand not in {step_col, tok_col, lr_col, fl_col}:
            run_col = cand
    return Axes(step_col, tok_col, lr_col, fl_col, run_col)


def _step_axis(tbl, num: dict, step_col: str | None, path: Path,
               notes: list[str]) -> tuple[np.ndarray, str | None]:
    """The steps of the rows and where they came from (None: the step column)."""
    if step_col is None:
        # only a tokens axis: one row has no step; several rows are numbered in file order
        n = tbl.num_rows
        step = np.full(1, np.nan) if n == 1 else np.arange(n, dtype="float64")
        return step, None if n == 1 else "row number (the file has a tokens column but no steps)"
    step_raw, step_ok = num[step_col]
    step = check_steps(step_raw if step_ok is None else np.where(step_ok, step_raw, np.nan),
                       str(path), step_col, integral=tbl.array(step_col).dtype.kind in "iu")
    if np.isnan(step).any():
        notes.append(f"{path.name}: {int(np.isnan(step).sum())} row(s) without a step skipped")
    return step, None


def _metric_columns(num: dict, axes: Axes, opts: Options,
                    where: str) -> tuple[list[str], dict[str, str]]:
    """The metric columns to read, and the per-run constants found as columns."""
    special = axes.special
    run_level = {c: RUN_LEVEL[norm(c)] for c in num if norm(c) in RUN_LEVEL and c not in special}
    keep = [c for c in num
            if c not in special and c not in run_level and c != axes.run
            and norm(c) not in SYSTEM_NAMES and not c.startswith("_")]
    if opts.metrics:
        missing = [m for m in opts.metrics if m not in num]
        if missing:
            raise InputError(f"no column {missing[0]!r}", where=where)
        keep = [c for c in keep if c in opts.metrics]
    if not keep:
        raise InputError(f"no metric columns besides the step column {axes.step!r}", where=where,
                         hint="a loss column such as 'loss' or 'train/loss' is expected")
    return keep, run_level


def _metric_values(num: dict, keep: list[str], step: np.ndarray, step_col: str | None,
                   where: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Metric names in name order (the store's), their values and logged cells as
    metric-major blocks (metrics x rows)."""
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
    return names, values, present


def _run_groups(tbl, run_col: str | None, name: str,
                where: str) -> list[tuple[str, np.ndarray | None]]:
    """(run name, its rows) per run; rows None: every row."""
    if run_col is None:
        return [(name, None)]
    labels = pd.Series(tbl.column(run_col), dtype="string")
    if labels.isna().any():
        raise InputError(f"column {run_col!r} has rows with no run name", where=where)
    return [(str(r), (labels == r).to_numpy(dtype=bool)) for r in pd.unique(labels)]


def _run_values(info: RunInfo, rows: np.ndarray | None, num: dict, run_level: dict[str, str],
                axes: Axes, aux: Aux) -> None:
    """A run's constants and totals from its rows: run-level columns, last tokens and FLOPs,
    peak learning rate."""
    for c, fld in run_level.items():
        v = _last(_rows(num[c][0], rows))
        if v is not None:
            if fld.startswith("meta:"):
                info.meta[fld[5:]] = v
            else:
                info.set(fld, v, f"column {c!r}")
    if axes.tokens:
        v = _max(_rows(aux.tokens, rows))
        if v is not None:
            info.set("tokens_total", v, f"column {axes.tokens!r} (last value)")
    if axes.flops:
        v = _max(_rows(aux.flops, rows))
        if v is not None:
            info.set("flops_total", v, f"column {axes.flops!r} (last value)")
    if axes.lr:
        v = _max(_rows(aux.lr, rows))
        if v is not None and "lr_max" not in info.values:
            info.set("lr_max", v, f"column {axes.lr!r} (max)")


def numeric_block(tbl: Table, path: Path, exclude: Container[str | None] = (),
                  required: Container[str | None] = ()) -> tuple[dict, list[str]]:
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
    """The logged-cell mask of a :func:`numeric_block` entry: its own mask, or
    ``~isnan(values)`` where it has none."""
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
    """Whether ``step`` is the placeholder axis of a one-row table without a step column
    (a single NaN)."""
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

