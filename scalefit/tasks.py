"""Downstream predictions: task accuracy from (N, D) in two steps, and loss-to-loss fits.

Task accuracy follows the model-ladder recipe of Bhagia et al. 2024 (arXiv:2412.04403):

1. **step 1**: a final-loss law (``chinchilla`` by default) maps (N, D) to a task loss, by
   default the bits per byte of the correct answer, fitted on one point per ladder run;
2. **step 2**: ``task_sigmoid`` maps the task loss to accuracy, fitted on the ladder's
   checkpoints plus the anchor point (loss 0, accuracy 1).

The chained prediction evaluates step 2 at step 1's predicted loss. Its interval comes from a
bootstrap over runs: each replicate draws the runs once, weights step 1's point and all step-2
checkpoints of a run by the number of times it was drawn, and refits both steps, so the interval
carries the uncertainty of both fits.

Every fit goes through scalefit's engine (:func:`scalefit.fitting.fit_dataset`: a vectorised
screen of the start grid plus variable-projection seeds, the best 8 distinct starts refined by
L-BFGS-B; bootstrap replicates refitted together by the batched L-BFGS, warm-started from the
point estimate). The modelling choices and why:

* step 1 objective: Huber (delta 1e-3) on log residuals, summed, as the paper and the rest of
  scalefit fit final-loss laws;
* step 1 optimiser: the engine's multi-start from Hoffmann's 4,500-point grid, not the paper's
  single start: the estimator is the objective's minimum, and many starts find it more reliably;
* step 1 loss of a run: its final checkpoint (``last=1``) at the final token count, the value
  the law models (the loss after D tokens) and what the engine fits for any final-loss law. The
  paper averages the last 5 checkpoints; a backtest on the ladder alone (fit the 190M-760M
  rungs, predict the four 1B runs' accuracy on the eight tasks) does not separate the two
  (mean error 1.06 against 1.07 points; on the largest run, 1B-10xC, 1.36 against 1.65);
* step 2: the paper's recipe unchanged: least squares on accuracy, checkpoints after the first
  10% of each run, a 5-point trailing moving average of loss and accuracy, the anchor (0, 1),
  a start at ``a = chance - 1`` (plus the law's grid);
* intervals: percentile (95%) over run resamples, as scalefit's engine does for every law.

None of these was chosen by looking at the accuracy of the models being predicted.

Loss-to-loss (Brandfonbrener et al. 2024) fits ``loss_to_loss`` on pairs of losses built by
:func:`pair_losses` with :func:`fit_loss_to_loss` (the engine, Huber on log residuals, with
``E_x`` kept below the smallest source loss).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from scalefit.artefacts import (
    SCHEMA_VERSION,
    data_origin,
    data_record,
    jsonable,
    read_artefact,
    write_artefact,
)
from scalefit.errors import FitError, InputError, UsageError
from scalefit.fitting import (
    Dataset,
    fit_dataset,
    make_objective,
    make_parameters,
    resample_weights,
)
from scalefit.fitting.bootstrap import percentile_interval, refit_weighted
from scalefit.fitting.optimize import blas_threads
from scalefit.laws import loss_to_loss as _loss_to_loss  # noqa: F401  (registers)
from scalefit.laws import task_sigmoid as _task_sigmoid  # noqa: F401  (registers)
from scalefit.laws.base import Law, get_law
from scalefit.summary import LawInfo, PredictionRow, Summary, fmt, one_line, rows_from
from scalefit.version import __version__

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
        """``name``, else ``N=...,D=...`` with three significant digits."""
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
def _dataset(X: dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray, runs: list[str],
             metric: str) -> Dataset:
    return Dataset({k: np.asarray(v, float) for k, v in X.items()}, np.asarray(y, float),
                   np.asarray(groups, np.int64), list(runs), metric)


def _engine_fit(law: Law, ds: Dataset, objective: str, *, bounds=None, starts=None,
                keep: int = 8) -> dict:
    """One multi-start fit through the shared engine (:func:`scalefit.fitting.fit_dataset`)."""
    if ds.n < len(law.params) + 1:
        raise FitError(f"{ds.n} point(s) cannot determine the {len(law.params)} parameters of "
                       f"{law.name!r}", hint="use more runs")
    return fit_dataset(ds, law, parameters=make_parameters(law, bounds=bounds),
                       objective=make_objective(objective, delta=HUBER_DELTA), keep=keep,
                       starts=starts)


def _as_dict(law: Law, theta: np.ndarray) -> dict[str, float]:
    return dict(zip(law.param_names, map(float, theta), strict=True))


def _step1_core(N, D, loss, law: Law, runs: Sequence[str] | None = None) -> dict:
    n = len(np.asarray(loss))
    runs = [f"run-{i}" for i in range(n)] if runs is None else list(runs)
    ds = _dataset({"N": N, "D": D}, loss, np.arange(n), runs, "task loss")
    return _engine_fit(law, ds, "huber")


def _step2_core(L, acc, chance: float, ceiling: float, anchor: bool,
                groups: np.ndarray | None = None) -> dict:
    law = get_law("task_sigmoid")
    L = np.asarray(L, float)
    acc = np.asarray(acc, float)
    groups = np.zeros(len(L), np.int64) if groups is None else np.asarray(groups, np.int64)
    if anchor:
        L, acc = np.append(L, 0.0), np.append(acc, ceiling)
        groups = np.append(groups, groups.max(initial=-1) + 1)
    ds = _dataset({"L": L}, acc, groups, [str(g) for g in np.unique(groups)], "accuracy")
    # the paper's start (a = chance - ceiling, k = 3, L0 = 0.9, b = ceiling), then the law's grid
    paper = np.array([[chance - ceiling, 3.0, 0.9, ceiling]])
    return _engine_fit(law, ds, "mse_linear", starts=np.vstack([paper, law.start_grid()]))


def fit_step1(N, D, loss, *, law: str | Law = "chinchilla") -> tuple[dict[str, float], float]:
    """Fit a final-loss law on (N, D) -> task loss with scalefit's engine (Huber, delta 1e-3, on
    log residuals, summed; Hoffmann's grid plus variable-projection starts); returns
    (parameters, objective)."""
    law = get_law(law)
    core = _step1_core(N, D, loss, law)
    return _as_dict(law, core["theta"]), float(core["opt"].fun)


def fit_step2(L, acc, *, chance: float = 0.25, ceiling: float = 1.0,
              anchor: bool = True) -> tuple[dict[str, float], float]:
    """Fit ``task_sigmoid`` on (task loss, accuracy) by least squares with scalefit's engine,
    with the anchor point (0, ``ceiling``) appended as Bhagia et al. do. ``chance`` (the accuracy
    of guessing) seeds the start ``a = chance - ceiling``. Returns (parameters, objective)."""
    core = _step2_core(L, acc, chance, ceiling, anchor)
    return _as_dict(core["law"], core["theta"]), float(core["opt"].fun)


def _refit(problem, v_hat: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refit ``problem`` under each row of point weights ``W`` (B, n), warm-started from
    ``v_hat``, as the engine's bootstrap does. Returns (B, P) natural parameters and a converged
    flag (B,)."""
    with blas_threads(1):
        V, _, conv = refit_weighted(problem, v_hat, W, max_polish=len(W))
    return problem.law.to_natural(problem.full(V)), conv


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

    #: where the runs came from (the store's path, when it has one), how they were given and
    #: the sha256 of the points both steps were fitted on
    data: dict | None = None
    data_origin: str = ""
    data_hash: str = ""
    version: str = __version__

    # ------------------------------------------------------------------ common names
    @property
    def law_(self) -> LawInfo:
        """Both steps: step 1's law of (N, D), then ``task_sigmoid``."""
        law1 = get_law(self.law)
        return LawInfo(f"{self.law}+task_sigmoid",
                       f"{law1.formula}; then {get_law('task_sigmoid').formula}",
                       tuple(self.params_), law1.source)

    @property
    def level(self) -> float:
        """The intervals' level (``ci``), under the name the other results use."""
        return float(self.ci)

    @property
    def params_(self) -> dict[str, float]:
        """Both steps' parameters, named ``step1.<name>`` and ``step2.<name>``."""
        return {**{f"step1.{k}": float(v) for k, v in self.step1.items()},
                **{f"step2.{k}": float(v) for k, v in self.step2.items()}}

    def _boot(self) -> np.ndarray | None:
        if self.boot_step1 is None or self.boot_step2 is None or not len(self.boot_step1):
            return None
        return np.hstack([np.asarray(self.boot_step1, float), np.asarray(self.boot_step2, float)])

    @property
    def ci_(self) -> dict[str, tuple[float, float]] | None:
        """Percentile intervals (level ``ci``) over the run bootstrap; None without one."""
        b = self._boot()
        if b is None:
            return None
        lo, hi = percentile_interval(b, self.ci)
        return {k: (float(lo[i]), float(hi[i])) for i, k in enumerate(self.params_)}

    @property
    def stderr_(self) -> dict[str, float]:
        """Bootstrap standard deviations of the parameters (empty without a bootstrap)."""
        b = self._boot()
        if b is None or len(b) < 2:
            return {}
        sd = np.nanstd(b, axis=0, ddof=1)
        return {k: float(sd[i]) for i, k in enumerate(self.params_)}

    def predict_loss(self, N, D) -> np.ndarray:
        """Step 1: the task loss at ``N`` (parameters) and ``D`` (tokens) from the fitted law."""
        law = get_law(self.law)
        return law.predict({"N": N, "D": D}, self.step1)

    def predict_acc_from_loss(self, L) -> np.ndarray:
        """Step 2: accuracy at task loss ``L`` from the fitted ``task_sigmoid``."""
        return get_law("task_sigmoid").predict({"L": L}, self.step2)

    def predict(self, N, D) -> np.ndarray:
        """Chained accuracy at (N, D)."""
        return self.predict_acc_from_loss(self.predict_loss(N, D))

    def table(self) -> pd.DataFrame:
        """One row per target: name, N, D, loss with its interval, accuracy with its interval."""
        return pd.DataFrame([asdict(t) for t in self.targets])

    def to_dict(self) -> dict:
        """The JSON artefact as a dict (``kind`` "task"): both steps' parameters, the targets'
        predictions, and the bootstrap samples when there are some."""
        d = {
            "schema": SCHEMA_VERSION,
            "kind": "task",
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
            "data_hash": self.data_hash,
            "data": data_record(self.data, self.data_hash, self.data_origin),
            "version": self.version,
        }
        if self._boot() is not None:
            d["bootstrap"] = {"step1": self.boot_step1, "step2": self.boot_step2}
        return jsonable(d)

    def to_json(self, path=None, **kw) -> str | None:
        """The JSON artefact as text, or written to ``path`` (then None, as for a fit)."""
        text = write_artefact(self.to_dict(), path, indent=kw.pop("indent", 2))
        return None if path is not None else text

    @classmethod
    def from_dict(cls, d: Mapping) -> TaskPrediction:
        """Rebuild a prediction from its artefact dict, validated first (it is untrusted);
        ``InputError`` for anything that is not a task artefact. The fitted points are not
        restored."""
        from scalefit.artefacts import check_kind, validate_task_artefact

        check_kind(d, "task", "a task prediction",
                   hint="save one with `scalefit tasks ... --json FILE`")
        validate_task_artefact(d)  # untrusted: types, bounds and bootstrap checked before use
        nan = float("nan")
        targets = [TargetPrediction(str(t["name"]), float(t["N"]), float(t["D"]),
                                    *(nan if t.get(k) is None else float(t[k])
                                      for k in ("loss", "loss_lo", "loss_hi", "acc", "lo",
                                                "hi")))
                   for t in d["targets"]]
        boot = d.get("bootstrap") or {}
        b1, b2 = boot.get("step1"), boot.get("step2")
        rec = dict(d.get("data") or {})
        loc = ({"store": rec["store"]} if "store" in rec
               else {"paths": rec["paths"]} if "paths" in rec else None)
        return cls(str(d["task"]), str(d["law"]), str(d.get("loss_metric") or ""),
                   str(d.get("acc_metric") or ""), list(d.get("runs") or []),
                   {k: float(v) for k, v in d["step1"].items()},
                   {k: float(v) for k, v in d["step2"].items()}, targets,
                   float(d.get("ci", 0.95)), int(d.get("n_boot", 0)),
                   dict(d.get("diagnostics") or {}),
                   boot_step1=None if not b1 else np.asarray(b1, float),
                   boot_step2=None if not b2 else np.asarray(b2, float),
                   data=loc, data_origin=str(rec.get("origin", "")),
                   data_hash=str(d.get("data_hash") or ""), version=str(d.get("version") or ""))

    @classmethod
    def from_json(cls, source) -> TaskPrediction:
        """Read a task-prediction artefact from a path or from JSON text."""
        return cls.from_dict(read_artefact(source))

    def summary(self) -> Summary:
        """Text (``str``), HTML and dict views (:class:`scalefit.summary.Summary`)."""
        level = round(100 * self.ci)
        ci = self.ci_
        bound = {}
        for step, law, params in (("step1", get_law(self.law), self.step1),
                                  ("step2", get_law("task_sigmoid"), self.step2)):
            for p in law.params:
                v = params.get(p.name)
                if v is not None and (np.isclose(v, p.lower, rtol=1e-9, atol=1e-12)
                                      or np.isclose(v, p.upper, rtol=1e-9, atol=1e-12)):
                    bound[f"{step}.{p.name}"] = ("at bound",)
        rows = rows_from(self.params_, ci, f"{level}% bootstrap", flags=bound)
        preds = []
        for t in self.targets:
            loss_iv = (f" [{fmt(t.loss_lo)}, {fmt(t.loss_hi)}]"
                       if np.isfinite(t.loss_lo) and np.isfinite(t.loss_hi) else "")
            has_iv = np.isfinite(t.lo) and np.isfinite(t.hi)
            preds.append(PredictionRow(f"{t.name}: accuracy", {"N": t.N, "D": t.D}, t.acc,
                                       t.lo if has_iv else None, t.hi if has_iv else None,
                                       extra=(f"task loss {fmt(t.loss, 5)}{loss_iv}",)))
        facts = [f"step 1: {self.loss_metric} from (N, D); step 2: {self.acc_metric} from the "
                 "task loss"]
        if self.n_boot:
            facts.append(f"intervals: {level}% percentile over {self.n_boot} resamples of the "
                         "runs (both steps refitted)")
        return Summary(kind="task", law=self.law_.name, formula=self.law_.formula,
                       title=f"{self.task}: {len(self.runs)} runs, step 1 {self.law}, "
                             "step 2 task_sigmoid",
                       facts=facts, params=rows, predictions=preds, record=self.to_dict())

    def __str__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        return one_line("TaskPrediction", self.task,
                        f"({self.law}+task_sigmoid): {len(self.runs)} runs, "
                        f"{len(self.targets)} targets",
                        {t.name: t.acc for t in self.targets})


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

    core1 = _step1_core(s1["N"], s1["tokens"], s1["value"], law_obj, fit_runs)
    # step 2's points carry the index of their run, so a bootstrap draw weights both steps alike
    g2 = s2["run"].map({r: i for i, r in enumerate(fit_runs)}).to_numpy(np.int64)
    core2 = _step2_core(s2["loss"], s2["acc"], chance, 1.0, True, groups=g2)
    sig = core2["law"]
    p1, p2 = _as_dict(law_obj, core1["theta"]), _as_dict(sig, core2["theta"])
    TN = np.array([t.N for t in targets])
    TD = np.array([t.D for t in targets])
    loss_hat = law_obj.predict({"N": TN, "D": TD}, p1)
    acc_hat = sig.predict({"L": loss_hat}, p2)

    diag = {"step1_objective": float(core1["opt"].fun), "step2_objective": float(core2["opt"].fun),
            "step1_points": len(s1), "step2_points": len(s2),
            "step1_converged": bool(core1["opt"].converged),
            "step2_converged": bool(core2["opt"].converged),
            "step1_multistart": core1["opt"].spread}
    boot1 = boot2 = None
    lo_l = hi_l = lo_a = hi_a = np.full(len(targets), np.nan)
    if n_boot > 0:
        boot1, boot2, bl, ba, frac = _bootstrap(core1, core2, g2, TN, TD, n_boot, seed)
        diag["bootstrap_converged_fraction"] = frac
        lo_l, hi_l = percentile_interval(bl, ci)
        lo_a, hi_a = percentile_interval(ba, ci)
    preds = [TargetPrediction(t.label, t.N, t.D, float(loss_hat[i]), float(lo_l[i]),
                              float(hi_l[i]), float(acc_hat[i]), float(lo_a[i]), float(hi_a[i]))
             for i, t in enumerate(targets)]
    where = getattr(store, "path", None)
    loc = ({"store": str(where)} if isinstance(where, str) and where
           and not where.startswith("memory://") else None)
    return TaskPrediction(task, law_obj.name, loss_metric, acc_metric, fit_runs, p1, p2, preds,
                          ci, n_boot, diag, s1, s2, boot1, boot2, data=loc,
                          data_origin=data_origin(store), data_hash=_frames_hash(s1, s2))


def _frames_hash(*frames: pd.DataFrame) -> str:
    """sha256 of the points both steps were fitted on (like a data set's hash)."""
    import hashlib

    h = hashlib.sha256()
    for f in frames:
        h.update(pd.util.hash_pandas_object(f, index=False).to_numpy().tobytes())
    return "sha256:" + h.hexdigest()


def _bootstrap(core1: dict, core2: dict, g2: np.ndarray, TN, TD, n_boot: int, seed):
    """Resample the runs once per replicate and refit both steps on it.

    A replicate is the number of times each run is drawn: step 1's point of the run and all of
    its step-2 checkpoints get that weight (the anchor point keeps weight 1). Both steps are
    refitted by the engine's batched L-BFGS, warm-started from the point estimate. Returns the
    parameters of both steps, the targets' predicted losses and accuracies, and the fraction of
    replicates that converged.
    """
    law, sig = core1["law"], core2["law"]
    R = len(core1["problem"].y)
    W1 = resample_weights(np.arange(R), n_boot, np.random.default_rng(seed))  # (B, R) counts
    # a draw with fewer distinct runs than step 1 has parameters cannot identify it
    W1 = W1[(W1 > 0).sum(1) >= len(law.params)]
    if len(W1) == 0:
        raise FitError("every bootstrap resample has too few distinct runs", hint="use more runs")
    W2 = np.hstack([W1[:, g2], np.ones((len(W1), 1))])
    th1, ok1 = _refit(core1["problem"], core1["opt"].v, W1)
    th2, ok2 = _refit(core2["problem"], core2["opt"].v, W2)
    ok = ok1 & ok2
    if not ok.any():
        raise FitError("every bootstrap resample failed to fit", hint="use more runs")
    th1, th2 = th1[ok], th2[ok]
    BL = law.predict({"N": TN, "D": TD}, th1)  # (B, targets)
    # step 2 of replicate i at replicate i's predicted loss
    BA = np.stack([[sig.predict({"L": BL[i, j]}, th2[i])[0] for j in range(BL.shape[1])]
                   for i in range(len(th2))])
    return th1, th2, BL, BA, float(ok.mean())


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


def fit_loss_to_loss(Lx, Ly) -> tuple[dict[str, float], float]:
    """Fit ``loss_to_loss`` with scalefit's engine (Huber on log residuals, delta 1e-3, summed)
    with ``E_x`` kept below the smallest ``Lx``; returns (parameters, objective)."""
    Lx = np.asarray(Lx, float)
    Ly = np.asarray(Ly, float)
    ok = np.isfinite(Lx) & np.isfinite(Ly) & (Lx > 0) & (Ly > 0)
    if ok.sum() < 5:
        raise InputError(f"{int(ok.sum())} usable loss pairs; loss_to_loss needs at least 5")
    Lx, Ly = Lx[ok], Ly[ok]
    law = get_law("loss_to_loss")
    top = float(Lx.min()) * (1 - 1e-6)
    # E_x's grid as fractions of the smallest Lx, so every start is inside its bound
    grid = law.start_grid()
    ex = law.param_names.index("E_x")
    grid[:, ex] = top * np.array([0.0, 0.5, 0.8, 0.95])[np.arange(len(grid)) % 4]
    n = len(Lx)
    ds = _dataset({"Lx": Lx}, Ly, np.arange(n), [f"pair-{i}" for i in range(n)], "loss")
    core = _engine_fit(law, ds, "huber", bounds={"E_x": (0.0, top)}, starts=grid)
    return _as_dict(law, core["theta"]), float(core["opt"].fun)
