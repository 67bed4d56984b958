"""Cleaning of loss curves before a fit: warmup trimming, restarts, NaN/inf, spikes, smoothing.

Cleaning works on a copy of a points table and never changes what is stored; it is applied when
a law's data set is built. Every step is vectorised over all (run, metric) curves at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import UsageError

__all__ = ["CleanReport", "clean_points"]


@dataclass
class CleanReport:
    """What cleaning removed or flagged."""

    dropped_nonfinite: int = 0
    dropped_warmup: int = 0
    deduplicated: int = 0
    spikes: list[dict] = field(default_factory=list)
    smoothed: bool = False

    @property
    def dropped(self) -> int:
        """Total number of points removed: non-finite, warmup and superseded."""
        return self.dropped_nonfinite + self.dropped_warmup + self.deduplicated

    def summary(self) -> str:
        """One line of what was dropped, flagged and smoothed."""
        parts = [f"{self.dropped_nonfinite} NaN/inf", f"{self.dropped_warmup} warmup",
                 f"{self.deduplicated} superseded (duplicate or restarted steps)"]
        text = "dropped " + ", ".join(parts) + f"; {len(self.spikes)} spike(s) flagged"
        return text + ("; EMA-smoothed" if self.smoothed else "")

    def to_dict(self) -> dict:
        """The report as a JSON-ready dict."""
        return {"dropped_nonfinite": self.dropped_nonfinite, "dropped_warmup": self.dropped_warmup,
                "deduplicated": self.deduplicated, "spikes": list(self.spikes),
                "smoothed": self.smoothed}


def clean_points(points: pd.DataFrame, *, skip_steps: int = 0, skip_frac: float = 0.0,
                 dedupe: bool = True, drop_nonfinite: bool = True, spike_z: float | None = None,
                 ema: float | None = None) -> tuple[pd.DataFrame, CleanReport]:
    """Clean a points table; return the cleaned copy (sorted by run, metric, step) and a report.

    Parameters
    ----------
    points : DataFrame
        Store points (run, step, metric, value, ...), in log order if it holds restarts.
    skip_steps : int
        Drop points with ``step < skip_steps`` (warmup), per curve.
    skip_frac : float
        Drop the first fraction of each curve's step range, ``step < first + frac*(last-first)``.
    dedupe : bool
        Per (run, metric) the later row wins: a repeated step replaces the earlier value, and a
        step that goes back (a restart) replaces earlier points at or after it.
    drop_nonfinite : bool
        Drop NaN and inf values (counted in the report).
    spike_z : float, optional
        Flag (not drop) points that stand above the chord of their two neighbours by more than
        ``spike_z`` robust standard deviations (MAD x 1.4826 of that height over the curve, with
        a floor of 1e-4 of the value).
    ema : float, optional
        Exponential moving average with weight ``ema`` on the past (0 < ema < 1), per curve,
        applied last. Flagged spikes do not enter the average.
    """
    if not 0.0 <= skip_frac < 1.0:
        raise UsageError(f"skip_frac must be in [0, 1), got {skip_frac}", where="--skip-frac")
    if skip_steps < 0:
        raise UsageError(f"skip_steps must be >= 0, got {skip_steps}", where="--skip-steps")
    if ema is not None and not 0.0 < ema < 1.0:
        raise UsageError(f"ema must be in (0, 1), got {ema}", where="--ema")
    report = CleanReport()
    df = points.reset_index(drop=True).copy()
    if df.empty:
        return df, report
    key = df.groupby(["run", "metric"], sort=False, dropna=False).ngroup().to_numpy()
    step = df["step"].to_numpy(dtype="float64", na_value=-np.inf)

    if dedupe:
        from scalefit.io.restarts import superseded_mask

        order = np.argsort(key, kind="stable")
        keep_sorted = superseded_mask(key[order], step[order])
        keep = np.empty(len(df), bool)
        keep[order] = keep_sorted
        report.deduplicated = int((~keep).sum())
        df, key, step = df[keep], key[keep], step[keep]

    if drop_nonfinite:
        fin = np.isfinite(df["value"].to_numpy(dtype="float64", na_value=np.nan))
        report.dropped_nonfinite = int((~fin).sum())
        df, key, step = df[fin], key[fin], step[fin]

    if skip_steps or skip_frac:
        has_step = np.isfinite(step)
        drop = has_step & (step < skip_steps)
        if skip_frac:
            s = pd.Series(np.where(has_step, step, np.nan))
            lo = s.groupby(key).transform("min").to_numpy()
            hi = s.groupby(key).transform("max").to_numpy()
            drop |= has_step & (step < lo + skip_frac * (hi - lo))
        report.dropped_warmup = int(drop.sum())
        df, key, step = df[~drop], key[~drop], step[~drop]

    df = df.assign(_k=key, _s=step).sort_values(["_k", "_s"], kind="stable")
    if spike_z is not None:
        v = df["value"].to_numpy(dtype="float64")
        g = pd.Series(v).groupby(df["_k"].to_numpy())
        # height above the chord of the two neighbours: a smooth convex loss curve sits below
        # it, a spike far above; the curve's ends have one neighbour and are not judged
        d = v - 0.5 * (g.shift(1).to_numpy() + g.shift(-1).to_numpy())
        mad = pd.Series(np.abs(d)).groupby(df["_k"].to_numpy()).transform("median").to_numpy()
        # a perfectly smooth curve has MAD ~0: a floor of 1e-4 of the level keeps z finite
        scale = np.maximum(1.4826 * np.nan_to_num(mad), 1e-4 * np.abs(v) + 1e-12)
        is_spike = np.nan_to_num(d / scale, nan=-np.inf) > spike_z
        for row in df[is_spike].itertuples(index=False):
            report.spikes.append({"run": row.run, "metric": row.metric,
                                  "step": None if pd.isna(row.step) else int(row.step),
                                  "value": float(row.value)})
        df = df.assign(_spike=is_spike)
    if ema is not None:
        src = df["value"].astype("float64")
        if "_spike" in df:
            src = src.mask(df["_spike"].to_numpy())
        sm = src.groupby(df["_k"].to_numpy()).transform(
            lambda x: x.ewm(alpha=1.0 - ema, adjust=True, ignore_na=True).mean())
        df = df.assign(value=sm.to_numpy())
        report.smoothed = True
    df = df.drop(columns=[c for c in ("_k", "_s", "_spike") if c in df]).reset_index(drop=True)
    return df, report
