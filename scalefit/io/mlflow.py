"""MLflow file store: ``mlruns/<experiment>/<run>/{meta.yaml, metrics/, params/, tags/}``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.io._common import Options, Parsed, Table
from scalefit.io.tables import wide_from_table


def read_mlflow(path: Path, opts: Options, name: str) -> Parsed:
    """Every run under ``path`` (a store root, an experiment folder or one run folder)."""
    run_dirs = _run_dirs(path)
    if not run_dirs:
        raise InputError("no MLflow runs (folders with meta.yaml and metrics/)", where=str(path))
    out = Parsed([], [], [])
    for rd in run_dirs:
        series = {}
        for mf in sorted(p for p in (rd / "metrics").rglob("*") if p.is_file()):
            key = mf.relative_to(rd / "metrics").as_posix()
            series[key] = _metric_file(mf)
        if not series:
            out.notes.append(f"{rd}: no metrics")
            continue
        frame = pd.concat(series, axis=1)  # aligned on step
        frame.index.name = "step"
        tbl = Table(frame.reset_index())
        params = _kv_folder(rd / "params")
        tags = _kv_folder(rd / "tags")
        run = opts.run if opts.run and len(run_dirs) == 1 else tags.get("mlflow.runName") or rd.name
        sub = Options(**{**opts.__dict__, "step_col": "step", "run": None})
        parsed = wide_from_table(tbl, rd, sub, run, "mlflow")
        for info in parsed.infos:
            info.from_config(params, "params")
            info.meta["mlflow_run_id"] = rd.name
            info.tags.update({k: v for k, v in tags.items() if not k.startswith("mlflow.")})
        out.infos += parsed.infos
        out.points += parsed.points
        out.notes += parsed.notes
    if not out.infos:
        raise InputError("the MLflow runs hold no metrics", where=str(path))
    return out


def _run_dirs(path: Path) -> list[Path]:
    if (path / "metrics").is_dir():
        return [path]
    found = []
    for meta in sorted(path.rglob("meta.yaml")):
        d = meta.parent
        if (d / "metrics").is_dir() and ".trash" not in d.parts:
            found.append(d)
    return found


def _metric_file(mf: Path) -> pd.Series:
    """Lines ``timestamp value step``; a repeated step keeps its last value."""
    where = str(mf)
    try:
        text = mf.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", where=where) from None
    rows = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not rows:
        raise InputError("the metric file is empty", where=where)
    bad = next((i for i, r in enumerate(rows) if len(r) not in (2, 3)), None)
    if bad is not None:
        raise InputError(f"line {bad + 1}: expected 'timestamp value step', got {' '.join(rows[bad])!r}",
                         where=where)
    try:
        value = np.array([float(r[1]) for r in rows])
        step = np.array([int(r[2]) if len(r) == 3 else 0 for r in rows])
    except ValueError as exc:
        raise InputError(f"non-numeric value: {exc}", where=where) from None
    s = pd.Series(value, index=step)
    return s[~s.index.duplicated(keep="last")]


def _kv_folder(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    out = {}
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            out[f.relative_to(folder).as_posix()] = f.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            continue
    return out
