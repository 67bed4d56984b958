"""MLflow file store: ``mlruns/<experiment>/<run>/{meta.yaml, metrics/, params/, tags/}``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.io.head import Head
from scalefit.io.reader import Options, Parsed
from scalefit.io.restarts import superseded_mask
from scalefit.io.table import Table
from scalefit.io.wide import wide_from_table


def sniff_layout(path: Path, head: Head) -> bool:
    """A run folder (``meta.yaml`` and ``metrics/``), an experiment or store holding one, or
    a run's ``meta.yaml``."""
    if not head.is_dir:
        return head.name == "meta.yaml" and (path.parent / "metrics").is_dir()
    if (path / "meta.yaml").exists() and (path / "metrics").is_dir():
        return True
    try:
        children = [c for c in path.iterdir() if c.is_dir()]
    except OSError:
        return False
    return any((c / "meta.yaml").exists() and ((c / "metrics").is_dir() or any(
        (g / "metrics").is_dir() for g in c.iterdir() if g.is_dir())) for c in children)


def read_mlflow(path: Path, opts: Options, name: str) -> Parsed:
    """Every run under ``path`` (a store root, an experiment folder or one run folder)."""
    if path.is_file():  # meta.yaml of a run or an experiment
        path = path.parent
    run_dirs = _run_dirs(path)
    if not run_dirs:
        raise InputError("no MLflow runs (folders with meta.yaml and metrics/)", where=str(path))
    out = Parsed([], [], [])
    for rd in run_dirs:
        series, superseded, restarts = {}, 0, 0
        for mf in sorted(p for p in (rd / "metrics").rglob("*") if p.is_file()):
            key = mf.relative_to(rd / "metrics").as_posix()
            series[key], n_sup, n_back = _metric_file(mf)
            superseded += n_sup
            restarts += n_back
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
            if superseded:
                info.meta["restarts"] = restarts
                info.meta["superseded_points"] = superseded
                out.notes.append(f"run {info.name!r}: {restarts} restart(s) (step went back); "
                                 f"{superseded} earlier point(s) replaced by later ones")
            info.tags.update({k: v for k, v in tags.items() if not k.startswith("mlflow.")})
        out.extend(parsed)
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


def _metric_file(mf: Path) -> tuple[pd.Series, int, int]:
    """Lines ``timestamp value step``, the later line winning (see :mod:`scalefit.io`)."""
    where = str(mf)
    try:
        text = mf.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", where=where) from None
    rows = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not rows:
        raise InputError("the metric file is empty", where=where)
    if not text.endswith("\n"):
        raise InputError("the last line has no line end: the file is truncated", where=where)
    bad = next((i for i, r in enumerate(rows) if len(r) != 3), None)
    if bad is not None:
        raise InputError(f"line {bad + 1}: expected 'timestamp value step', got {' '.join(rows[bad])!r}",
                         where=where)
    try:
        value = np.array([float(r[1]) for r in rows])
        step = np.array([int(r[2]) for r in rows])
    except ValueError as exc:
        raise InputError(f"non-numeric value: {exc}", where=where) from None
    keep = superseded_mask(np.zeros(len(step), int), step.astype("float64"))
    n_back = int(np.sum(np.diff(step) < 0))
    return pd.Series(value[keep], index=step[keep]), int((~keep).sum()), n_back


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
