"""Weights & Biases: panel CSV exports and run folders (history exports are in tables.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scalefit.errors import InputError
from scalefit.io.columns import STEP_NAMES, pick_column
from scalefit.io.csvfile import read_csv_table
from scalefit.io.frames import melt, points_frame
from scalefit.io.head import Head
from scalefit.io.jsonfile import load_json
from scalefit.io.numbers import as_number, check_steps, numeric_column
from scalefit.io.reader import Options, Parsed
from scalefit.io.restarts import descending
from scalefit.io.runinfo import RunInfo
from scalefit.io.table import Table


def sniff_panel(path: Path, head: Head) -> bool:
    """A table whose header is a W&B panel export (a step column, ``<run> - <metric>``
    columns)."""
    return head.kind == "wandb-panel"


def sniff_run_folder(path: Path, head: Head) -> bool:
    """A run folder (or its ``files/``), its summary, or the config beside a summary."""
    if head.is_dir:
        return ((path / "wandb-summary.json").exists()
                or (path / "files" / "wandb-summary.json").exists())
    return head.name == "wandb-summary.json" or (
        head.name == "config.yaml" and (path.parent / "wandb-summary.json").exists())


def read_panel(path: Path, opts: Options, name: str) -> Parsed:
    """A W&B panel CSV export: one run per ``<run> - `` prefix (see :func:`panel_from_table`)."""
    return panel_from_table(read_csv_table(path, opts.delimiter), path, opts, name)


def panel_from_table(tbl: Table, path: Path, opts: Options, name: str) -> Parsed:
    """``Step, <run> - <metric>, <run> - <metric>__MIN, <run> - <metric>__MAX``: one run per prefix.

    The __MIN/__MAX columns are the min/max of the points W&B merged into one displayed point;
    the plain column is the value, so only it is kept.
    """
    where = str(path)
    cols = tbl.column_names
    if tbl.num_rows == 0:
        raise InputError("the table has a header but no rows", where=where)
    step_col = pick_column(cols, opts.step_col, ["Step", *STEP_NAMES], "step", where)
    if step_col is None:
        raise InputError("no Step column", where=where)
    res = numeric_column(tbl.column(step_col), step_col, where)
    if res is None:
        raise InputError(f"column {step_col!r} is not numeric", where=where)
    step = check_steps(np.where(res[1], res[0], np.nan), where, step_col)
    order = None
    if descending(step):  # exported newest first: a sort order, not restarts
        order = np.arange(len(step))[::-1]
        step = step[order]
    by_run: dict[str, list[tuple[str, str]]] = {}
    skipped = 0
    for c in cols:
        if c == step_col or " - " not in c:
            continue
        if c.endswith("__MIN") or c.endswith("__MAX"):
            skipped += 1
            continue
        run, metric = c.rsplit(" - ", 1)
        by_run.setdefault(run.strip(), []).append((metric.strip(), c))
    if not by_run:
        raise InputError("no '<run> - <metric>' columns", where=where)
    infos, frames = [], []
    for run, pairs in by_run.items():
        vals, pres, names = [], [], []
        for metric, c in pairs:
            r = numeric_column(tbl.column(c), c, where)
            if r is None:
                continue
            if order is not None:
                r = (r[0][order], r[1][order])
            vals.append(r[0])
            pres.append(r[1] & ~np.isnan(step))
            names.append(metric)
        if not names:
            continue
        info = RunInfo(run, source=where)
        info.meta["format"] = "wandb-panel"
        info.from_name()
        infos.append(info)
        frames.append(melt(run, step, names, np.column_stack(vals), np.column_stack(pres)))
    notes = list(getattr(tbl, "notes", []))
    if order is not None:
        notes.append(f"{path.name}: rows in descending step order; read in ascending order")
    if skipped:
        notes.append(f"{path.name}: {skipped} __MIN/__MAX column(s) ignored")
    return Parsed(infos, frames, notes)


def read_run_folder(path: Path, opts: Options, name: str) -> Parsed:
    """A W&B run folder (``wandb/run-*/`` or its ``files/``): summary metrics and config.

    The summary holds each metric's last value, which becomes one point at the summary's
    ``_step``; the full history lives in the binary ``.wandb`` file, which needs the wandb
    client: export it as CSV instead.
    """
    import yaml

    folder = path if path.is_dir() else path.parent
    files = folder / "files" if (folder / "files" / "wandb-summary.json").exists() else folder
    summary_path = files / "wandb-summary.json"
    if not summary_path.exists():
        raise InputError("no wandb-summary.json in this W&B run folder", where=str(folder))
    summary = load_json(summary_path)
    if not isinstance(summary, dict):
        raise InputError("wandb-summary.json is not a JSON object", where=str(summary_path))
    run = opts.run or _run_name(folder)
    info = RunInfo(run, source=str(folder))
    info.meta["format"] = "wandb-run"
    cfg_path = files / "config.yaml"
    if cfg_path.exists():
        try:
            cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"invalid YAML: {str(exc).splitlines()[0]}",
                             where=str(cfg_path)) from None
        if isinstance(cfg, dict):
            info.from_config(cfg, "config.yaml")
    meta_path = files / "wandb-metadata.json"
    if meta_path.exists():
        md = load_json(meta_path)
        if isinstance(md, dict):
            for k in ("host", "startedAt", "program", "gpu"):
                if k in md:
                    info.meta[f"wandb_{k}"] = md[k]
    info.from_name()
    step = as_number(summary.get("_step"))
    metrics, values = [], []
    for k, v in summary.items():
        if k.startswith("_") or isinstance(v, (dict, list, bool)):
            continue
        x = as_number(v) if not isinstance(v, str) else None
        if x is None and not (isinstance(v, float)):
            continue
        metrics.append(k)
        values.append(float(v))
    if not metrics:
        raise InputError("wandb-summary.json holds no numeric metrics", where=str(summary_path))
    notes = [f"{folder.name}: W&B summary gives only final values; export the run history as CSV "
             "for whole curves"]
    pts = points_frame(run, np.full(len(values), np.nan if step is None else step),
                       np.asarray(metrics, dtype=object), values)
    return Parsed([info], [pts], notes)


def _run_name(folder: Path) -> str:
    n = folder.name
    if n == "files":
        n = folder.parent.name
    # offline-run-20240101_120000-abc123 -> abc123
    if n.startswith(("run-", "offline-run-")) and "-" in n:
        return n.rsplit("-", 1)[-1]
    return n
