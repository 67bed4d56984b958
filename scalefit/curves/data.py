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

__all__ = ["Curve", "CurveData", "curve_errors", "curves_from_logs", "read_curve"]


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
        """The same curve keeping only the logged steps (and losses) selected by ``mask``."""
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
        """Total number of logged points over all curves."""
        return int(sum(len(c) for c in self.curves))

    @property
    def names(self) -> list[str]:
        """The curves' names, in order."""
        return [c.name for c in self.curves]

    def hash(self) -> str:
        """16 hex digits of the sha256 of every curve's name, LR, steps, losses and N
        (identifies the data)."""
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
def _loss_metric(pts: pd.DataFrame, metric: str | None, where: str) -> str | None:
    """The loss metric of a curve: ``metric`` if given (checked), else the one the final-loss
    fits would choose (``loss``, ``lm loss``, one validation loss, ...)."""
    from scalefit.errors import UsageError
    from scalefit.fitting.dataset import choose_metric

    have = pts.loc[pts["metric"] != "lr", "metric"]
    if not len(have):
        return None
    try:
        return choose_metric(pts[pts["metric"] != "lr"], metric)
    except UsageError as exc:
        raise InputError(exc.message, where=where, hint=exc.hint) from None


def _frame(path: str | Path, metric: str | None = None) -> pd.DataFrame:
    """A step/lr/loss table from a file in any format scalefit's readers take; ``metric``
    names the loss metric (default: the one loss-like metric, as final-loss fits choose)."""
    from scalefit.io import read_logs

    p = Path(path)
    if not p.exists():
        raise InputError("file not found", where=str(path))
    logs = read_logs(p)
    pts = logs.points
    df = _step_table(pts, _loss_metric(pts, metric, str(path)))
    # the run's name as `scalefit ingest` gives it (a Lightning version dir: folder/version_0)
    df.attrs["run"] = logs.runs["run"].iloc[0] if len(logs.runs) == 1 else None
    return df


def _step_table(pts: pd.DataFrame, loss_metric: str | None) -> pd.DataFrame:
    """step, loss (of ``loss_metric``) and lr (logged with any metric) per logged step."""
    pts = pts.dropna(subset=["step"])
    steps = np.unique(pts["step"].to_numpy(dtype="float64"))
    df = pd.DataFrame({"step": steps})
    if loss_metric is not None:
        loss = pts[pts["metric"] == loss_metric].groupby("step")["value"].last()
        df["loss"] = df["step"].map(loss.set_axis(loss.index.astype("float64")).astype(float))
        df = df.dropna(subset=["loss"]) if loss.size else df
    lr = pts.dropna(subset=["lr"]).groupby("step")["lr"].last()
    if len(lr):
        df["lr"] = df["step"].map(lr.set_axis(lr.index.astype("float64")).astype(float))
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
    names the loss to read (default: the one loss-like metric, as final-loss fits choose).
    """
    df = _frame(path, metric)
    name = name or df.attrs.get("run") or Path(path).stem
    return _curve(df, str(path), name, schedule=schedule, warmup=warmup,
                  total_steps=total_steps, N=N, need_loss=need_loss)


def _curve(df: pd.DataFrame, where: str, name: str, *, schedule=None,
           warmup: int | None = None, total_steps: int | None = None, N: float | None = None,
           need_loss: bool = True, meta: dict | None = None) -> Curve:
    """A :class:`Curve` from a step/lr/loss table."""
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
        raise InputError("no loss metric logged", where=where,
                         hint="fitting needs the loss and the LR at logged steps; name the "
                              "loss with --metric or --loss-col")
    if schedule is not None:
        sch = parse_schedule(schedule)
    else:
        if "lr" not in df.columns or not df["lr"].notna().any():
            raise InputError("no learning rate logged and no schedule given", where=where,
                             hint="a curve law needs the LR at each logged step: log it (an "
                                  "lr column; --lr-col names it) or pass a schedule spec")
        sch = from_logged(df["step"].to_numpy(dtype=float), df["lr"].to_numpy(dtype=float),
                          warmup=warmup, total_steps=total_steps, where=f"{where}: lr")
    T = max(int(steps.max()) + 1 if steps.size else 1, sch.total_steps)
    eta = sch.lr(np.arange(T))
    return Curve(name, eta, steps, loss, N, sch, {"path": where, **(meta or {})})


#: a run needs this many logged losses to be a curve
MIN_CURVE_POINTS = 3


def curves_from_logs(data, *, runs: Sequence[str] | None = None, metric: str | None = None,
                     warmup: int | None = None,
                     N: Sequence[float | None] | float | None = None) -> tuple[list[Curve],
                                                                                list[str]]:
    """The loss curves of ``data`` (a :class:`~scalefit.store.LogData` from
    :func:`scalefit.io.read_logs`, or a :class:`~scalefit.store.Store`), one per run, named
    as the store names the run; and notes on the runs left out.

    ``metric`` is the loss metric (default: chosen as final-loss fits choose it); ``runs``
    picks runs by name. Runs with fewer than :data:`MIN_CURVE_POINTS` logged losses, or no
    LR, are left out with a note; a final-loss table (one loss per run, no steps) is an
    error that says so.
    """
    from scalefit.errors import UsageError

    all_runs = data.runs
    pts = data.points
    where = getattr(data, "source", None) or getattr(data, "path", None) or "the data"
    names = all_runs["run"].tolist()
    if runs is not None:
        unknown = [r for r in runs if r not in names]
        if unknown:
            raise UsageError(f"no run {unknown[0]!r} in {where}", where="--runs",
                             hint=f"runs: {', '.join(names[:12])}"
                                  + (" ..." if len(names) > 12 else ""))
        names = [r for r in names if r in set(runs)]
        pts = pts[pts["run"].isin(names)]
    if not len(pts):
        raise InputError("no metric values to fit", where=str(where))
    if metric is not None:
        _loss_metric(pts, metric, str(where))  # checked against every run's metrics
    if pts["step"].isna().all():
        m = metric or _loss_metric(pts, None, str(where))
        raise InputError(f"a final-loss table (one {m!r} value per run, no steps), "
                         "not loss curves", where=str(where),
                         hint="curve laws (multi_power, lr_annealing) fit the loss at every "
                              "logged step with its LR; fit this table with a final-loss law "
                              "(--law chinchilla, or --law auto), or give training logs")
    sizes = list(N) if isinstance(N, (list, tuple)) else [N] * len(names)
    if len(sizes) != len(names):
        raise UsageError(f"--n given {len(sizes)} times for {len(names)} curves",
                         where="--n", hint="give it once, or once per run in the order of "
                                           + ", ".join(names[:8]))
    by_run = dict(tuple(pts.groupby("run", sort=False)))
    info = all_runs.set_index("run")
    out, notes = [], []
    for run, n in zip(names, sizes, strict=True):
        sub = by_run.get(run)
        if sub is None:
            notes.append(f"run {run!r} left out: no points")
            continue
        # each run's own loss metric unless --metric names one (logs of several tools mix
        # `loss`, `train/loss`, `lm loss`)
        try:
            loss_metric = metric or _loss_metric(sub, None, run)
        except InputError as exc:
            notes.append(f"run {run!r} left out: {exc.message}")
            continue
        k = int(((sub["metric"] == loss_metric) & sub["step"].notna()).sum())
        if k < MIN_CURVE_POINTS:
            notes.append(f"run {run!r} left out: {k} logged {loss_metric!r} value(s); a curve "
                         f"needs {MIN_CURVE_POINTS}")
            continue
        src = info.at[run, "source"] if "source" in info.columns else None
        src = str(src) if isinstance(src, str) else str(where)
        df = _step_table(sub, loss_metric)
        if "lr" not in df.columns or not df["lr"].notna().any():
            notes.append(f"run {run!r} left out: no learning rate logged (a curve law needs "
                         "it; --lr-col names the column)")
            continue
        out.append(_curve(df, f"{src} (run {run})" if src != run else run, run, warmup=warmup,
                          N=n, meta={"path": src, "run": run, "metric": loss_metric}))
    if not out:
        raise InputError(f"no run holds a loss curve with its LR ({len(names)} run(s) "
                         "looked at)", where=str(where), hint="; ".join(notes[:5]) or None)
    return out, notes


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
