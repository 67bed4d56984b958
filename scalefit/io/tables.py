"""Delimited tables: wide and long CSV/TSV, W&B run-history exports, final-loss tables."""

from __future__ import annotations

from pathlib import Path

from scalefit.errors import InputError
from scalefit.io.columns import classify
from scalefit.io.csvfile import read_csv_table
from scalefit.io.final import check_unique_runs, final_from_table
from scalefit.io.head import Head
from scalefit.io.long import long_from_table
from scalefit.io.reader import Options, Parsed
from scalefit.io.wandb import panel_from_table
from scalefit.io.wide import wide_from_table

__all__ = ["check_unique_runs", "classify", "read_csv", "read_final", "read_wandb_history",
           "sniff_csv", "sniff_final", "sniff_wandb_history", "wide_from_table"]

CSV_SUFFIXES = (".csv", ".tsv", ".tab")


def sniff_csv(path: Path, head: Head) -> bool:
    """A wide or long table by its header; or, asked after every other format, a file named
    as a CSV that no format knows by its content."""
    kind = head.kind
    return kind in ("wide", "long") or (kind is None and head.suffix in CSV_SUFFIXES)


def sniff_final(path: Path, head: Head) -> bool:
    """A table whose header announces a final-loss table (sizes and a loss, no step)."""
    return head.kind == "final"


def sniff_wandb_history(path: Path, head: Head) -> bool:
    """A table whose header has W&B's ``_step`` column (a run-history export)."""
    return head.kind == "wandb"


def read_csv(path: Path, opts: Options, name: str) -> Parsed:
    """CSV/TSV of any table kind, chosen from the header."""
    tbl = read_csv_table(path, opts.delimiter, digest=True)
    parsed = _read_table(tbl, path, opts, name)
    parsed.digest = tbl.digest
    return parsed


def _read_table(tbl, path: Path, opts: Options, name: str) -> Parsed:
    kind = "wide" if opts.step_col else classify(tbl.column_names)
    if kind is None and opts.loss_col and opts.loss_col in tbl.column_names:
        # a loss named with --loss-col, and no step column: one row per run
        kind = "final"
    if kind in ("wide", "wandb"):
        return wide_from_table(tbl, path, opts, name, "wandb" if kind == "wandb" else "csv")
    if kind == "long":
        return long_from_table(tbl, path, opts, name)
    if kind == "final":
        return final_from_table(tbl, path, opts, name)
    if kind == "wandb-panel":
        return panel_from_table(tbl, path, opts, name)
    raise InputError(
        f"cannot tell the table kind from its columns {tbl.column_names[:8]}: no step column "
        "(step, _step, iter, global_step ...) and no final-loss columns (N and loss)",
        where=str(path),
        hint="one row per run: name its loss column with --loss-col COLUMN; a curve: name the "
             "step column with --step-col; or pick --format",
    )


def read_wandb_history(path: Path, opts: Options, name: str) -> Parsed:
    """A W&B run-history CSV export (``_step`` and one column per metric) as a wide table."""
    tbl = read_csv_table(path, opts.delimiter, digest=True)
    parsed = wide_from_table(tbl, path, opts, name, "wandb")
    parsed.digest = tbl.digest
    return parsed


def read_final(path: Path, opts: Options, name: str) -> Parsed:
    """A final-loss CSV: each row a run with N, D and/or C and its loss column(s)."""
    return final_from_table(read_csv_table(path, opts.delimiter), path, opts, name)
