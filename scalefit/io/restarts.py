"""Repeated and decreasing steps: the later row wins, per (run, metric)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.io.frames import Chunk, frame_from_chunks
from scalefit.io.runinfo import RunInfo
from scalefit.schema import empty_points


def descending(step: np.ndarray) -> bool:
    """Steps that strictly decrease from the first row to the last (three or more): a table
    sorted newest first. One step back in an increasing log is a restart instead."""
    if len(step) and step[0] <= step[-1]:  # cannot decrease (a NaN end takes the full check)
        return False
    st = step[np.isfinite(step)]
    return len(st) >= 3 and bool(np.all(np.diff(st) < 0))



# ----------------------------------------------------------------------------- restarts
def resolve_restarts(points: pd.DataFrame, infos: dict[str, RunInfo],
                     notes: list[str]) -> pd.DataFrame:
    """Apply "the later row wins" per (run, metric), in log order.

    A step logged again (a duplicate) replaces the earlier value; a step that goes back
    (a restart from a checkpoint) replaces every earlier point at or after that step, since
    those belong to the abandoned part of the run. Counts go into the run's meta and notes.
    """
    if len(points) < 2:
        return points
    codes = points.groupby(["run", "metric"], sort=False, dropna=False).ngroup().to_numpy()
    step = points["step"].to_numpy(dtype="float64", na_value=-np.inf)
    order = np.argsort(codes, kind="stable")
    c, s = codes[order], step[order]
    same = c[1:] == c[:-1]
    if not np.any(same & (s[1:] <= s[:-1])):
        return points
    keep_sorted = superseded_mask(c, s)
    back = same & (s[1:] < s[:-1])
    dup = same & (s[1:] == s[:-1])
    drop = order[~keep_sorted]
    runs_col = points["run"].to_numpy(dtype=object)
    for name in pd.unique(runs_col[drop]):
        sel = runs_col[order[1:]] == name
        n_back = int(np.sum(back & sel))
        n_drop = int(np.sum(runs_col[drop] == name))
        info = infos.get(name)
        if info is not None:
            info.meta["restarts"] = info.meta.get("restarts", 0) + n_back
            info.meta["superseded_points"] = info.meta.get("superseded_points", 0) + n_drop
            info.meta["duplicate_steps"] = info.meta.get("duplicate_steps", 0) + int(
                np.sum(dup & sel))
        what = f"{n_back} restart(s) (step went back)" if n_back else "duplicate steps"
        notes.append(f"run {name!r}: {what}; {n_drop} earlier point(s) replaced by later ones")
    keep = np.ones(len(points), bool)
    keep[drop] = False
    return points[keep].reset_index(drop=True)


def superseded_mask(codes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """For rows grouped by ``codes`` (contiguous, in log order): True where no later row of the
    same group has a step at or below this row's step."""
    n = len(steps)
    rev_c, rev_s = codes[::-1], steps[::-1]
    # suffix minimum of later rows within each group: cummin over the reversed order, shifted
    cm = pd.Series(rev_s).groupby(rev_c).cummin().to_numpy()
    later = np.full(n, np.inf)
    later[1:] = cm[:-1]
    later[1:][rev_c[1:] != rev_c[:-1]] = np.inf
    later = later[::-1]
    return ~(later <= steps)


def combine_points(frames: list, infos: dict[str, RunInfo], notes: list[str]) -> pd.DataFrame:
    """Join the readers' points (chunks and frames); resolve repeated steps where needed.

    A chunk whose steps strictly increase per metric needs no work, and most logs are like
    that: checking it per chunk is cheap, grouping 10^5-10^6 rows is not.
    """
    if not frames:
        return empty_points()
    seen: dict[str, int] = {}
    runs_of = []
    for f in frames:
        if isinstance(f, Chunk):
            rs, ok = [f.run], f.monotone
        else:
            rs, ok = [str(r) for r in pd.unique(f["run"])], monotone(f)
        runs_of.append((rs, ok))
        for r in rs:
            seen[r] = seen.get(r, 0) + 1
            if r not in infos:
                infos[r] = RunInfo(r)
    simple, rest = [], []
    for f, (rs, ok) in zip(frames, runs_of, strict=True):
        (simple if ok and all(seen[r] == 1 for r in rs) else rest).append(f)

    def join(parts):
        chunks = [p for p in parts if isinstance(p, Chunk)]
        dfs = [p for p in parts if not isinstance(p, Chunk)]
        if chunks:
            dfs.insert(0, frame_from_chunks(chunks))
        return dfs

    out = join(simple)
    if rest:
        out += [resolve_restarts(pd.concat(join(rest), ignore_index=True), infos, notes)]
    return out[0] if len(out) == 1 else pd.concat(out, ignore_index=True)


def monotone(f: pd.DataFrame) -> bool:
    """Steps strictly increase within each contiguous (run, metric) block, and no block repeats."""
    if len(f) < 2:
        return True
    st = f["step"].to_numpy(dtype="float64", na_value=np.nan)
    if np.isnan(st).any():
        return False
    run, met = f["run"].array, f["metric"].array
    new_block = np.ones(len(f), bool)
    new_block[1:] = (run[1:] != run[:-1]) | (met[1:] != met[:-1])
    if not np.all((np.diff(st) > 0) | new_block[1:]):
        return False
    starts = np.flatnonzero(new_block)
    keys = pd.MultiIndex.from_arrays([run.take(starts), met.take(starts)])
    return not keys.duplicated().any()
