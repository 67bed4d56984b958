"""Loss curves with their per-step learning rate: the data the curve laws fit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.schedules import Schedule, from_logged, parse_schedule

__all__ = ["Curve", "CurveData", "curve_errors", "read_curve"]


@dataclass
class Curve:
    """One training run: the LR at every step, and the loss at some logged steps.

    ``eta[i]`` is the LR of optimizer step ``i``; ``steps`` are the logged steps (indices into
    ``eta``); ``loss`` may be ``None`` for a curve only to be predicted. ``N`` is the model size
    (parameters), needed only by the joint law across sizes.
    """

    name: str
    eta: np.ndarray
    steps: np.ndarray
    loss: np.ndarray | None = None
    N: float | None = None
    schedule: Schedule | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.eta = np.asarray(self.eta, dtype=float)
        self.steps = np.asarray(self.steps, dtype=np.int64)
        if self.loss is not None:
            self.loss = np.asarray(self.loss, dtype=float)
            if self.loss.shape != self.steps.shape:
                raise InputError(f"{self.loss.size} losses for {self.steps.size} steps",
                                 where=self.name)
        if self.eta.ndim != 1 or self.eta.size == 0:
            raise InputError("the per-step LR must be a non-empty 1-D array", where=self.name)
        if not np.all(np.isfinite(self.eta)) or np.any(self.eta < 0):
            raise InputError("the per-step LR has negative or non-finite values", where=self.name)
        if self.steps.size and (self.steps.min() < 0 or self.steps.max() >= self.eta.size):
            raise InputError(f"logged steps reach {self.steps.max()} but the LR covers "
                             f"{self.eta.size} steps", where=self.name,
                             hint="give a schedule that lasts at least as long as the log")

    @property
    def S1(self) -> np.ndarray:
        """Cumulative LR (warmup included) at the logged steps."""
        return np.cumsum(self.eta)[self.steps]

    def __len__(self) -> int:
        return int(self.steps.size)

    def subset(self, mask) -> Curve:
        return Curve(self.name, self.eta, self.steps[mask],
                     None if self.loss is None else self.loss[mask], self.N, self.schedule,
                     dict(self.meta))


class CurveData:
    """Several curves fitted together (shared parameters), e.g. three schedules of one model."""

    def __init__(self, curves: Iterable[Curve]):
        self.curves = list(curves)
        if not self.curves:
            raise InputError("no curves given", hint="pass at least one curve with step, lr, loss")

    def __iter__(self):
        return iter(self.curves)

    def __len__(self):
        return len(self.curves)

    def __getitem__(self, i):
        if isinstance(i, str):
            for c in self.curves:
                if c.name == i:
                    return c
            raise KeyError(i)
        return self.curves[i]

    @property
    def n_points(self) -> int:
        return int(sum(len(c) for c in self.curves))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.curves]

    def hash(self) -> str:
        h = hashlib.sha256()
        for c in self.curves:
            h.update(c.name.encode())
            h.update(np.ascontiguousarray(c.eta).tobytes())
            h.update(np.ascontiguousarray(c.steps).tobytes())
            if c.loss is not None:
                h.update(np.ascontiguousarray(c.loss).tobytes())
            h.update(repr(c.N).encode())
        return h.hexdigest()[:16]


# ---------------------------------------------------------------------- reading
def _frame(path: str | Path, metric: str | None = None) -> pd.DataFrame:
    """A step/lr/loss table from a file in any format scalefit's readers take; ``metric``
    names the loss column (default: train/loss, loss or val/loss, the first present)."""
    from scalefit.io import read_logs

    p = Path(path)
    if not p.exists():
        raise InputError("file not found", where=str(path))
    pts = read_logs(p).points
    wide = pts.pivot_table(index="step", columns="metric", values="value", aggfunc="last")
    wide = wide.reset_index()
    if metric is not None:
        if metric not in wide.columns or metric == "step":
            have = sorted(str(c) for c in wide.columns if c != "step")
            raise InputError(f"no metric {metric!r}", where=str(path),
                             hint=f"metrics in this file: {', '.join(have) or 'none'}")
        loss_col = metric
    else:
        loss_col = next((c for c in ("train/loss", "loss", "val/loss") if c in wide.columns),
                        None)
    df = pd.DataFrame({"step": wide["step"].astype("float64")})
    if loss_col is not None:
        df["loss"] = wide[loss_col].to_numpy(dtype=float)
    lr = pts.dropna(subset=["lr"]).groupby("step")["lr"].last()
    if len(lr):
        df["lr"] = df["step"].map(lr.astype(float))
    return df


def read_curve(path: str | Path, *, name: str | None = None, schedule=None,
               warmup: int | None = None, total_steps: int | None = None,
               N: float | None = None, need_loss: bool = True,
               metric: str | None = None) -> Curve:
    """Read a curve file with columns ``step``, ``lr`` (any logging interval) and ``loss``.

    The per-step LR comes from ``schedule`` (a spec, dict or Schedule) when given, else from
    the ``lr`` column through :func:`scalefit.schedules.from_logged` (a recognised family
    when one reproduces the logged values, else interpolation). ``warmup`` tells how many
    warmup steps precede the first logged step when the log does not show them. ``metric``
    names the loss to read (default: train/loss, loss or val/loss, the first present).
    """
    df = _frame(path, metric)
    where = str(path)
    if "step" not in df.columns:
        raise InputError("no `step` column", where=where, hint="the curve needs step, lr, loss")
    df = df.dropna(subset=["step"]).sort_values("step")
    steps = df["step"].to_numpy(dtype=float)
    if np.any(steps != np.round(steps)) or np.any(steps < 0):
        raise InputError("steps must be whole numbers >= 0", where=f"{where}: step")
    if np.any(np.diff(steps) == 0):
        df = df.drop_duplicates(subset=["step"], keep="last")
        steps = df["step"].to_numpy(dtype=float)
    steps = steps.astype(np.int64)
    loss = None
    if "loss" in df.columns:
        loss = df["loss"].to_numpy(dtype=float)
        ok = np.isfinite(loss) & (loss > 0)
        if not np.all(ok):
            df, steps, loss = df[ok], steps[ok], loss[ok]
    elif need_loss:
        raise InputError("no `loss` column", where=where,
                         hint="fitting needs step, lr and loss columns")
    if schedule is not None:
        sch = parse_schedule(schedule)
    else:
        if "lr" not in df.columns:
            raise InputError("no `lr` column and no schedule", where=where,
                             hint="add an lr column or pass a schedule spec")
        sch = from_logged(df["step"].to_numpy(dtype=float), df["lr"].to_numpy(dtype=float),
                          warmup=warmup, total_steps=total_steps, where=f"{where}: lr")
    T = max(int(steps.max()) + 1 if steps.size else 1, sch.total_steps)
    eta = sch.lr(np.arange(T))
    return Curve(name or Path(path).stem, eta, steps, loss, N, sch, {"path": str(path)})


def multipower_curves(folder: str | Path, names: Sequence[str], *, N: float | None = None,
                      exact_warmup: bool = True) -> CurveData:
    """Curves of the multi-power-law data set (warmup 2,160 steps from 0, peak 3e-4).

    Its reference code ramps the warmup as ``linspace(0, peak, 2160)`` (peak reached at step
    2,159); ``exact_warmup`` reproduces that so the sums match the published fits exactly.
    Points at step >= 24,000 of curves that end at 24,000 are dropped, as the paper does.
    """
    folder = Path(folder)
    out = []
    for nm in names:
        stem = nm[:-4] if nm.endswith(".csv") else nm
        c = read_curve(folder / f"{stem}.csv", name=stem, warmup=2160, N=N)
        if exact_warmup:
            c.eta[:2160] = np.linspace(0.0, 3e-4, 2160)
        if c.schedule is not None and c.schedule.total_steps == 24000:
            c = c.subset(c.steps < 24000)
        out.append(c)
    return CurveData(out)


def curve_errors(loss: np.ndarray, pred: np.ndarray) -> dict:
    """Mean and worst relative error |L - L_hat| / L (the paper's PredE and WorstE)."""
    r = np.abs(np.asarray(loss) - np.asarray(pred)) / np.asarray(loss)
    return {"mean_rel": float(r.mean()), "max_rel": float(r.max()), "n": int(r.size)}
