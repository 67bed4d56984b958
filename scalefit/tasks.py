"""Downstream predictions: task accuracy from (N, D) in two steps, and loss-to-loss fits.

Task accuracy follows the model-ladder recipe of Bhagia et al. 2024 (arXiv:2412.04403):

1. **step 1**: a final-loss law (``chinchilla`` by default) maps (N, D) to a task loss, by
   default the bits per byte of the correct answer. It is fitted on one point per ladder run
   (the run's final checkpoint) with the Huber objective on log residuals (delta = 1e-3,
   summed) from a grid of starts.
2. **step 2**: ``task_sigmoid`` maps the task loss to accuracy. It is fitted by least squares on
   every checkpoint of the ladder runs (after the first 10%, with a 5-point moving average),
   plus the anchor point (loss 0, accuracy 1).

The chained prediction evaluates step 2 at step 1's predicted loss. Its interval comes from a
bootstrap over runs that refits both steps on each resample, so it carries the uncertainty of
both fits.

Loss-to-loss (Brandfonbrener et al. 2024) fits ``loss_to_loss`` on pairs of losses built by
:func:`pair_losses` with :func:`fit_loss_to_loss`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from scalefit.errors import FitError, InputError, UsageError
from scalefit.laws import loss_to_loss as _loss_to_loss  # noqa: F401  (registers)
from scalefit.laws import task_sigmoid as _task_sigmoid  # noqa: F401  (registers)
from scalefit.laws.base import Law, get_law

DEFAULT_LOSS_METRIC = "task/{task}/bpb"
DEFAULT_ACC_METRIC = "task/{task}/acc"
HUBER_DELTA = 1e-3

__all__ = [
    "DEFAULT_ACC_METRIC",
    "DEFAULT_LOSS_METRIC",
    "Target",
    "TargetPrediction",
    "TaskPrediction",
    "final_values",
    "fit_loss_to_loss",
    "fit_step1",
    "fit_step2",
    "pair_losses",
    "parse_target",
    "predict_task",
    "step2_points",
]


# ----------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    """A model to predict: non-embedding parameters ``N`` and training tokens ``D``."""

    N: float
    D: float
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"N={self.N:.3g},D={self.D:.3g}"


def parse_target(spec: str | Mapping | Target | Sequence) -> Target:
    """``"N=6.9e9,D=3.9e12"`` (optionally ``,name=7B``), a mapping, or an ``(N, D)`` pair."""
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, Mapping):
        items = {str(k): v for k, v in spec.items()}
    elif isinstance(spec, str):
        items = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            k, sep, v = part.partition("=")
            if not sep:
                raise UsageError(f"target part {part!r} must look like key=value", where="--target",
                                 hint="e.g. --target N=6.9e9,D=3.9e12,name=7B")
            items[k.strip()] = v.strip()
    else:
        seq = list(spec)
        if len(seq) not in (2, 3):
            raise UsageError(f"a target is (N, D) or (N, D, name); got {spec!r}")
        items = dict(zip(("N", "D", "name")[:len(seq)], seq, strict=True))
    try:
        N, D = float(items["N"]), float(items["D"])
    except KeyError as exc:
        raise UsageError(f"target {spec!r} lacks {exc.args[0]}", where="--target",
                         hint="give both N (parameters) and D (tokens)") from None
    except ValueError:
        raise UsageError(f"target {spec!r}: N and D must be numbers", where="--target") from None
    if not (N > 0 and D > 0 and np.isfinite(N) and np.isfinite(D)):
        raise UsageError(f"target {spec!r}: N and D must be positive", where="--target")
    return Target(N, D, str(items.get("name", "")))


# ----------------------------------------------------------------------------- data
def _metric_frame(points: pd.DataFrame, metric: str) -> pd.DataFrame:
    pts = points[points["metric"] == metric]
    if pts.empty:
        known = sorted(points["metric"].dropna().unique().tolist())
        raise InputError(f"no points for metric {metric!r}", where="metric",
                         hint=f"the store has {known[:12]}{' ...' if len(known) > 12 else ''}")
    pts = pts[np.isfinite(pts["value"].to_numpy(dtype=float))]
    order = ["run", "step"] if pts["step"].notna().all() else ["run", "tokens"]
    return pts.sort_values(order, kind="stable")


def final_values(points: pd.DataFrame, metric: str, *, last: int = 1) -> pd.DataFrame:
    """One row per run: the mean of the run's last ``last`` values of ``metric`` and the tokens
    of its final checkpoint (columns run, tokens, value).

    ``last=1`` (the default) takes the final checkpoint, the usual meaning of a final loss;
    Bhagia et al. average the last 5 checkpoints.
    """
    pts = _metric_frame(points, metric)
    g = pts.groupby("run", sort=False)
    out = pd.DataFrame({
        "run": list(g.groups),
        "tokens": g["tokens"].last().to_numpy(dtype=float),
        "value": g["value"].apply(lambda s: float(s.iloc[-last:].mean())).to_numpy(dtype=float),
    })
    return out


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Trailing mean over ``n`` points (fewer at the start), as the paper smooths checkpoints."""
    if n <= 1 or len(x) == 0:
        return np.asarray(x, dtype=float)
    c = np.cumsum(np.asarray(x, dtype=float))
    out = c / np.arange(1, len(c) + 1)
    if len(c) > n:
        out[n:] = (c[n:] - c[:-n]) / n
    return out


def step2_points(points: pd.DataFrame, loss_metric: str, acc_metric: str, *,
                 skip_frac: float = 0.1, smooth: int = 5) -> pd.DataFrame:
    """Checkpoints with both a loss and an accuracy (columns run, step, tokens, loss, acc): per
    run, the first ``skip_frac`` of checkpoints dropped and a trailing ``smooth``-point moving
    average applied to both columns."""
    lo = _metric_frame(points, loss_metric)
    ac = _metric_frame(points, acc_metric)
    key = ["run", "step"] if lo["step"].notna().all() and ac["step"].notna().all() else ["run", "tokens"]
    m = lo.merge(ac, on=key, suffixes=("_l", "_a"))
    frames = []
    for run, d in m.groupby("run", sort=False):
        d = d.sort_values(key[1])
        k = int(np.ceil(skip_frac * len(d)))
        d = d.iloc[k:]
        tok = d["tokens_l"] if "tokens_l" in d else d["tokens"]
        frames.append(pd.DataFrame({
            "run": run,
            "step": d["step"] if "step" in d else d.get("step_l"),
            "tokens": tok.to_numpy(dtype=float),
            "loss": _moving_average(d["value_l"].to_numpy(dtype=float), smooth),
            "acc": _moving_average(d["value_a"].to_numpy(dtype=float), smooth),
        }))
    if not frames:
        raise InputError(f"no checkpoint has both {loss_metric!r} and {acc_metric!r}",
                         where="metric", hint="both metrics must be logged at the same steps")
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- fitting
def _huber(u: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(u)
    return np.where(a < delta, 0.5 * u * u, delta * (a - 0.5 * delta))


def _internal_bounds(law: Law, bounds: Mapping[str, tuple[float, float]] | None):
    out = []
    for p in law.params:
        lo, hi = (p.lower, p.upper) if not bounds or p.name not in bounds else bounds[p.name]
        # a log parameter bounded at 0 gets a finite floor (exp(-30)), so the optimiser stops
        # at the bound instead of walking towards -inf
        lo_i = p.to_internal(lo) if (not p.log or lo > 0) else -30.0
        hi_i = p.to_internal(hi) if np.isfinite(hi) else np.inf
        out.append((None if not np.isfinite(lo_i) else float(lo_i),
                    None if not np.isfinite(hi_i) else float(hi_i)))
    return out


def _fit_law(law: Law, X: dict[str, np.ndarray], y: np.ndarray, *, objective: str = "huber_log",
             weights: np.ndarray | None = None, starts: np.ndarray | None = None, n_best: int = 24,
             bounds: Mapping[str, tuple[float, float]] | None = None,
             delta: float = HUBER_DELTA, maxiter: int = 2000) -> tuple[np.ndarray, float]:
    """Minimise ``objective`` over the law's parameters from many starts; return the natural
    parameters and the objective. ``huber_log``: sum of Huber(log y_hat - log y); ``lsq``: half
    the sum of squared residuals. Starts (internal space) are ranked by their objective in one
    vectorised evaluation; the best ``n_best`` are refined with L-BFGS-B and analytic gradients.
    """
    X = law.check_inputs(X)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    bnds = _internal_bounds(law, bounds)
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bnds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bnds])
    log_mask = np.array([p.log for p in law.params])

    def value(u):
        pred = law._predict(X, law.to_natural(u))
        if objective == "huber_log":
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.log(pred) - np.log(y)
            return np.sum(w * _huber(r, delta), -1), pred, r
        r = pred - y
        return 0.5 * np.sum(w * r * r, -1), pred, r

    def fun(u):
        f, pred, r = value(u)
        if not np.isfinite(f):
            return 1e30, np.zeros_like(u)
        J = law._jacobian(X, law.to_natural(u))  # (n, P), natural parameters
        J = J * np.where(log_mask, law.to_natural(u), 1.0)  # chain rule to internal space
        if objective == "huber_log":
            g = w * np.clip(r, -delta, delta) / pred
        else:
            g = w * r
        return float(f), g @ J

    U = law.start_grid() if starts is None else np.atleast_2d(np.asarray(starts, dtype=float))
    U = np.clip(U, np.where(np.isfinite(lo), lo, -1e300), np.where(np.isfinite(hi), hi, 1e300))
    with np.errstate(all="ignore"):
        f0 = value(U)[0]
    f0 = np.where(np.isfinite(f0), f0, np.inf)
    best_u, best_f = None, np.inf
    sw = np.sqrt(w)
    for i in np.argsort(f0, kind="stable")[:n_best]:
        with np.errstate(all="ignore"):
            if objective == "lsq":
                span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
                u0 = np.clip(U[i], lo + 1e-9 * span, hi - 1e-9 * span)
                res = optimize.least_squares(
                    lambda u: sw * (law._predict(X, law.to_natural(u)) - y), u0,
                    jac=lambda u: sw[:, None] * law._jacobian(X, law.to_natural(u))
                    * np.where(log_mask, law.to_natural(u), 1.0),
                    bounds=(lo, hi), method="trf", max_nfev=maxiter, xtol=1e-12, ftol=1e-12)
                fun_i = float(res.cost)
            else:
                res = optimize.minimize(fun, U[i], jac=True, method="L-BFGS-B", bounds=bnds,
                                        options={"maxiter": maxiter, "ftol": 1e-15,
                                                 "gtol": 1e-12})
                fun_i = float(res.fun)
        if np.isfinite(fun_i) and fun_i < best_f:
            best_u, best_f = res.x, fun_i
    if best_u is None:
        raise FitError(f"law {law.name!r}: no start gave a finite objective",
                       hint="check the data for zeros or negative values")
    return law.to_natural(best_u), best_f


def fit_step1(N, D, loss, *, law: str | Law = "chinchilla", weights=None,
              starts: np.ndarray | None = None, n_best: int = 24,
              maxiter: int = 2000) -> tuple[dict[str, float], float]:
    """Fit a final-loss law on (N, D) -> task loss: Huber (delta 1e-3) on log residuals,
    summed; returns (parameters, objective)."""
    law = get_law(law)
    theta, f = _fit_law(law, {"N": np.asarray(N, float), "D": np.asarray(D, float)},
                        np.asarray(loss, float), weights=weights, starts=starts, n_best=n_best,
                        maxiter=maxiter)
    return dict(zip(law.param_names, map(float, theta), strict=True)), f


def fit_step2(L, acc, *, chance: float = 0.25, ceiling: float = 1.0, anchor: bool = True,
              starts: np.ndarray | None = None, n_best: int = 8) -> tuple[dict[str, float], float]:
    """Fit ``task_sigmoid`` on (task loss, accuracy) by least squares, with the anchor point
    (0, ``ceiling``) appended as Bhagia et al. do. ``chance`` (the accuracy of guessing) seeds
    the start ``a = chance - ceiling``. Returns (parameters, objective)."""
    law = get_law("task_sigmoid")
    L = np.asarray(L, float)
    acc = np.asarray(acc, float)
    if anchor:
        L, acc = np.append(L, 0.0), np.append(acc, ceiling)
    if starts is None:
        paper = np.array([[chance - ceiling, 3.0, 0.9, ceiling]])  # the paper's start
        starts = np.vstack([paper, law.start_grid()])
    theta, f = _fit_law(law, {"L": L}, acc, objective="lsq", starts=starts, n_best=n_best)
    return dict(zip(law.param_names, map(float, theta), strict=True)), f


# ----------------------------------------------------------------------------- results
@dataclass
class TargetPrediction:
    """Prediction for one target: task loss and accuracy, each with a bootstrap interval."""

    name: str
    N: float
    D: float
    loss: float
    loss_lo: float
    loss_hi: float
    acc: float
    lo: float
    hi: float


@dataclass
class TaskPrediction:
    """The chained (N, D) -> task loss -> accuracy prediction of one task.

    ``step1``/``step2`` hold the fitted parameters; ``targets`` one :class:`TargetPrediction`
    each; ``lo``/``hi`` are percentile intervals at level ``ci`` from ``n_boot`` resamples of
    the runs (both steps refitted on each). ``step1_data``/``step2_data`` keep the points the
    fits used (for plots; not serialised).
    """

    task: str
    law: str
    loss_metric: str
    acc_metric: str
    runs: list[str]
    step1: dict[str, float]
    step2: dict[str, float]
    targets: list[TargetPrediction]
    ci: float = 0.95
    n_boot: int = 0
    diagnostics: dict = field(default_factory=dict)
    step1_data: pd.DataFrame | None = field(default=None, repr=False)
    step2_data: pd.DataFrame | None = field(default=None, repr=False)
    boot_step1: np.ndarray | None = field(default=None, repr=False)
    boot_step2: np.ndarray | None = field(default=None, repr=False)

    def predict_loss(self, N, D) -> np.ndarray:
        law = get_law(self.law)
        return law.predict({"N": N, "D": D}, self.step1)

    def predict_acc_from_loss(self, L) -> np.ndarray:
        return get_law("task_sigmoid").predict({"L": L}, self.step2)

    def predict(self, N, D) -> np.ndarray:
        """Chained accuracy at (N, D)."""
        return self.predict_acc_from_loss(self.predict_loss(N, D))

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(t) for t in self.targets])

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "law": self.law,
            "loss_metric": self.loss_metric,
            "acc_metric": self.acc_metric,
            "runs": list(self.runs),
            "step1": dict(self.step1),
            "step2": dict(self.step2),
            "targets": [asdict(t) for t in self.targets],
            "ci": self.ci,
            "n_boot": self.n_boot,
            "diagnostics": dict(self.diagnostics),
        }

    def to_json(self, path=None, **kw) -> str:
        text = json.dumps(self.to_dict(), indent=kw.pop("indent", 2), **kw)
        if path is not None:
            with open(path, "w") as fh:
                fh.write(text + "\n")
        return text

    def __str__(self) -> str:
        lines = [f"{self.task}: {len(self.runs)} runs, step 1 {self.law}, step 2 task_sigmoid"]
        for t in self.targets:
            lines.append(f"  {t.name:>12s}  loss {t.loss:.4f} [{t.loss_lo:.4f}, {t.loss_hi:.4f}]"
                         f"  acc {t.acc:.4f} [{t.lo:.4f}, {t.hi:.4f}]")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- prediction
def _tables(store) -> tuple[pd.DataFrame, pd.DataFrame]:
    if hasattr(store, "runs") and hasattr(store, "points"):
        return store.runs, store.points
    if isinstance(store, tuple) and len(store) == 2:
        return store
    raise UsageError("expected a Store (or a (runs, points) pair of frames)")


def predict_task(store, task: str, targets: Sequence, *, loss_metric: str | None = None,
                 acc_metric: str | None = None, runs: Sequence[str] | None = None,
                 law: str | Law = "chinchilla", n_boot: int = 200, ci: float = 0.95,
                 seed: int | None = 0, chance: float = 0.25, last: int = 1,
                 skip_frac: float = 0.1, smooth: int = 5) -> TaskPrediction:
    """Fit both steps for ``task`` on the runs of ``store`` and predict each target.

    Parameters
    ----------
    store : Store or (runs, points)
        ``params`` (N) comes from the runs table; D is the tokens of each run's final checkpoint.
    task : str
        Task name, substituted into the metric templates (``task/{task}/bpb`` and
        ``task/{task}/acc`` by default).
    targets : list of Target, "N=...,D=..." strings, mappings or (N, D) pairs.
    runs : runs to fit on (default: every run with both metrics and a parameter count). Leave
        the targets' own runs out.
    n_boot : bootstrap resamples of the runs, each refitting both steps (0: no intervals).
    chance : accuracy of guessing; seeds step 2's fit.
    last : number of final checkpoints averaged into step 1's loss (1 = final checkpoint).
    """
    runs_t, points = _tables(store)
    loss_metric = (loss_metric or DEFAULT_LOSS_METRIC).format(task=task)
    acc_metric = (acc_metric or DEFAULT_ACC_METRIC).format(task=task)
    targets = [parse_target(t) for t in targets]
    if not targets:
        raise UsageError("no target given", where="--target", hint="e.g. --target N=7e9,D=4e12")
    law_obj = get_law(law)
    if set(law_obj.input_names) != {"N", "D"}:
        raise UsageError(f"step 1 needs a law of N and D; {law_obj.name!r} takes "
                         f"{law_obj.input_names}", where="--law", hint="use chinchilla")
    if runs is not None:
        missing = sorted(set(runs) - set(runs_t["run"]))
        if missing:
            raise InputError(f"run(s) {missing} not in the store", where="--runs")
        points = points[points["run"].isin(list(runs))]

    s1 = final_values(points, loss_metric, last=last)
    params = runs_t.set_index("run")["params"]
    s1["N"] = s1["run"].map(params).astype(float)
    s1 = s1[np.isfinite(s1["N"]) & (s1["N"] > 0) & (s1["tokens"] > 0)].reset_index(drop=True)
    s2 = step2_points(points, loss_metric, acc_metric, skip_frac=skip_frac, smooth=smooth)
    s2 = s2[s2["run"].isin(s1["run"])].reset_index(drop=True)
    fit_runs = s1["run"].tolist()
    if len(fit_runs) < len(law_obj.params):
        raise InputError(f"{len(fit_runs)} runs with {loss_metric!r} and a parameter count; "
                         f"{law_obj.name} has {len(law_obj.params)} parameters",
                         where="runs", hint="ingest more runs or set `params` for them")

    p1, f1 = fit_step1(s1["N"], s1["tokens"], s1["value"], law=law_obj)
    p2, f2 = fit_step2(s2["loss"], s2["acc"], chance=chance)
    TN = np.array([t.N for t in targets])
    TD = np.array([t.D for t in targets])
    loss_hat = law_obj.predict({"N": TN, "D": TD}, p1)
    acc_hat = get_law("task_sigmoid").predict({"L": loss_hat}, p2)

    boot1 = boot2 = None
    lo_l = hi_l = lo_a = hi_a = np.full(len(targets), np.nan)
    if n_boot > 0:
        boot1, boot2, bl, ba = _bootstrap(law_obj, s1, s2, p1, p2, TN, TD, n_boot, seed, chance)
        q = [(1 - ci) / 2 * 100, (1 + ci) / 2 * 100]
        lo_l, hi_l = np.nanpercentile(bl, q, axis=0)
        lo_a, hi_a = np.nanpercentile(ba, q, axis=0)
    preds = [TargetPrediction(t.label, t.N, t.D, float(loss_hat[i]), float(lo_l[i]),
                              float(hi_l[i]), float(acc_hat[i]), float(lo_a[i]), float(hi_a[i]))
             for i, t in enumerate(targets)]
    diag = {"step1_objective": f1, "step2_objective": f2, "step1_points": len(s1),
            "step2_points": len(s2)}
    return TaskPrediction(task, law_obj.name, loss_metric, acc_metric, fit_runs, p1, p2, preds,
                          ci, n_boot, diag, s1, s2, boot1, boot2)


def _bootstrap(law, s1, s2, p1, p2, TN, TD, n_boot, seed, chance):
    """Resample runs with replacement; refit step 1 (from the full fit and a small grid) and
    step 2 (from the full fit) on each resample; return parameters and target predictions."""
    rng = np.random.default_rng(seed)
    runs = s1["run"].to_numpy()
    by_run = {r: g for r, g in s2.groupby("run", sort=False)}
    sig = get_law("task_sigmoid")
    # start each refit from the full-data optimum (and a few grid points, in case it moved)
    u1 = law.to_internal(np.maximum(np.array([p1[k] for k in law.param_names]), 1e-12))
    grid = law.start_grid()
    starts1 = np.vstack([u1, grid[rng.choice(len(grid), size=min(len(grid), 8), replace=False)]])
    st2 = np.array([[p2[k] for k in sig.param_names]])
    B1, B2, BL, BA = [], [], [], []
    for _ in range(n_boot):
        idx = rng.integers(0, len(runs), len(runs))
        counts = np.bincount(idx, minlength=len(runs))
        keep = counts > 0
        if keep.sum() < len(law.params):
            continue
        d1 = s1[keep]
        try:
            q1, _ = fit_step1(d1["N"], d1["tokens"], d1["value"], law=law,
                              weights=counts[keep], starts=starts1, n_best=2, maxiter=500)
            d2 = pd.concat([by_run[r] for r in runs[idx] if r in by_run], ignore_index=True)
            q2, _ = fit_step2(d2["loss"], d2["acc"], chance=chance, starts=st2, n_best=1)
        except FitError:
            continue
        th1 = np.array([q1[k] for k in law.param_names])
        th2 = np.array([q2[k] for k in sig.param_names])
        L = law.predict({"N": TN, "D": TD}, th1)
        B1.append(th1)
        B2.append(th2)
        BL.append(L)
        BA.append(sig.predict({"L": L}, th2))
    if not BL:
        raise FitError("every bootstrap resample failed to fit", hint="use more runs")
    return np.array(B1), np.array(B2), np.array(BL), np.array(BA)


# ----------------------------------------------------------------------------- loss to loss
def pair_losses(x: pd.DataFrame, y: pd.DataFrame, *, by: str = "run") -> pd.DataFrame:
    """Pair two loss tables into (Lx, Ly) rows for ``loss_to_loss``.

    ``x`` and ``y`` have columns ``run``, ``value`` and the pairing columns:

    * ``by="run"`` (train-to-test, test-to-test: one model, two losses): same ``run`` and
      ``step`` (or ``tokens`` when there is no step);
    * ``by="nd"`` (train-to-train): runs with equal ``N`` and ``D`` (columns ``N``, ``D``);
    * ``by="compute"`` (train-to-train): each x row is paired with y's loss interpolated, in log
      compute, at the same ``C`` along the y run of the same ``N``.
    """
    if by == "run":
        key = ["run", "step"] if "step" in x and "step" in y and x["step"].notna().all() \
            else ["run", "tokens"]
        m = x.merge(y, on=key, suffixes=("_x", "_y"))
        return m.rename(columns={"value_x": "Lx", "value_y": "Ly"})
    if by == "nd":
        m = x.merge(y, on=["N", "D"], suffixes=("_x", "_y"))
        return m.rename(columns={"value_x": "Lx", "value_y": "Ly"})
    if by == "compute":
        rows = []
        for n, gx in x.groupby("N"):
            gy = y[y["N"] == n].sort_values("C")
            if len(gy) < 2:
                continue
            lc = np.log(gy["C"].to_numpy(float))
            for _, r in gx.iterrows():
                c = np.log(r["C"])
                if lc[0] <= c <= lc[-1]:
                    rows.append({"N": n, "C": r["C"], "Lx": r["value"],
                                 "Ly": float(np.interp(c, lc, gy["value"].to_numpy(float)))})
        return pd.DataFrame(rows, columns=["N", "C", "Lx", "Ly"])
    raise UsageError(f"unknown pairing {by!r}", hint="use 'run', 'nd' or 'compute'")


def fit_loss_to_loss(Lx, Ly, *, n_best: int = 24) -> tuple[dict[str, float], float]:
    """Fit ``loss_to_loss`` (Huber on log residuals, delta 1e-3, summed) with ``E_x`` kept below
    the smallest ``Lx``; returns (parameters, objective)."""
    Lx = np.asarray(Lx, float)
    Ly = np.asarray(Ly, float)
    ok = np.isfinite(Lx) & np.isfinite(Ly) & (Lx > 0) & (Ly > 0)
    if ok.sum() < 5:
        raise InputError(f"{int(ok.sum())} usable loss pairs; loss_to_loss needs at least 5")
    Lx, Ly = Lx[ok], Ly[ok]
    law = get_law("loss_to_loss")
    top = float(Lx.min()) * (1 - 1e-6)
    grid = law.start_grid()
    ex = law.param_names.index("E_x")
    grid[:, ex] = np.minimum(grid[:, ex], top * np.array([0.0, 0.5, 0.8, 0.95])[
        np.arange(len(grid)) % 4])
    theta, f = _fit_law(law, {"Lx": Lx}, Ly, starts=grid, n_best=n_best,
                        bounds={"E_x": (0.0, top)})
    return dict(zip(law.param_names, map(float, theta), strict=True)), f
