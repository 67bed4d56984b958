"""Run planning: a compute budget in, a training plan out.

For each budget: the compute-optimal model size N and token count D (with bootstrap intervals
from the fit's bootstrap samples), the peak learning rate and batch size (Step Law), a schedule
(WSD with the decay fraction the curve law's schedule search picks, or cosine), the predicted
final loss with its interval, and the predicted loss curve under that schedule. Constraints:
unique data (the data-constrained law of Muennighoff et al. 2023), a largest model size, an
inference demand (lifetime compute 6·N·D + 2·N·T, Sardana et al. 2024) and a target loss.

Every input is either the user's own fit or a published default, and the result says which.
"""

from __future__ import annotations

import json
import math
import warnings as _warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scalefit.errors import InputError, UsageError
from scalefit.files import atomic_write_text

if TYPE_CHECKING:
    from scalefit.curves.result import CurveFitResult
    from scalefit.result import FitResult

    FitLike = FitResult | str | Path

__all__ = ["BudgetPlan", "PlanResult", "plan", "published_fit", "published_curve_fit",
           "PUBLISHED", "allocate"]

#: the shipped Chinchilla fit (``scalefit fit data/chinchilla.csv --law chinchilla --bootstrap 1000 --seed
#: 0``, before intervals scaled by the range of sizes: its calibration has no span_decades),
#: package data, so that an installed scalefit plans with its intervals too
PUBLISHED_FIT_PATH = Path(__file__).resolve().parent / "published" / "chinchilla_fit.json"

#: the published defaults and where each comes from
PUBLISHED: dict[str, dict[str, Any]] = {
    "final": {
        "law": "chinchilla",
        "params": {"E": 1.8172, "A": 477.8, "B": 2143.0, "alpha": 0.3473, "beta": 0.3672},
        "source": "Chinchilla's law as Besiroglu et al. 2024 (Epoch) refit it to Hoffmann et "
                  "al. 2022's points: `scalefit fit data/chinchilla.csv --law chinchilla "
                  "--bootstrap 1000 --seed 0`, shipped as scalefit/published/chinchilla_fit.json",
    },
    "lr": {"law": "steplaw", "params": {"c": 1.79, "a": -0.713, "b": 0.307},
           "source": "Step Law, Li et al. 2025, eq. (1): eta = 1.79 N^-0.713 D^0.307"},
    "batch": {"law": "steplaw:output=batch", "params": {"k": 0.58, "g": 0.571},
              "source": "Step Law, Li et al. 2025, eq. (2): B = 0.58 D^0.571 tokens"},
    "curve": {
        "law": "multi_power",
        "params": {"L0": 2.3747, "A": 0.6542, "alpha": 0.4288, "B": 523.42, "C": 2.0246,
                   "beta": 0.5935, "gamma": 0.6347},
        # the schedule of the runs it was fitted on (data/multipower/400M)
        "reference": {"peak": 3e-4, "warmup": 2160, "steps": 24000},
        "source": "multi-power law, Luo et al. 2025, fitted to their 400M curves (peak LR "
                  "3e-4, 2160 warmup steps, 24000 steps)",
    },
    "data_constrained": {
        "params": {"rd_star": 15.387756, "rn_star": 5.309743},
        "source": "R_D* and R_N* of Muennighoff et al. 2023 (github.com/huggingface/"
                  "datablations, parametric fit)",
    },
}

LABEL_PUBLISHED = "published default"
_PUBLISHED_SCHEDULES: dict[str, dict] = {}
LABEL_USER = "your fit"

# the grid of tokens per parameter the allocation searches (then refines between points)
_R_LO, _R_HI, _NGRID = 1e-2, 1e6, 801
_PROBE = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)  # fractions of the curve the summary prints


# ---------------------------------------------------------------------- results
@dataclass
class BudgetPlan:
    """The plan for one budget. Intervals are (lo, hi) at the fit's level, ``None`` where
    there is no bootstrap. ``budget`` is training FLOPs, or lifetime FLOPs (training plus
    inference) when an inference demand was given."""

    budget: float
    N: float
    D: float
    N_ci: tuple[float, float] | None = None
    D_ci: tuple[float, float] | None = None
    loss: float = math.nan
    loss_ci: tuple[float, float] | None = None
    loss_interval: str = ""
    train_flops: float = math.nan
    inference_flops: float = 0.0
    unique_tokens: float | None = None
    epochs: float | None = None
    lr: float = math.nan
    lr_ci: tuple[float, float] | None = None
    batch_tokens: float = math.nan
    batch_ci: tuple[float, float] | None = None
    steps: int = 0
    warmup: int = 0
    schedule: str = ""
    #: predicted loss curve under ``schedule``: step, loss (and lo, hi) at ~200 steps
    curve: dict = field(default_factory=dict)
    #: final loss under ``schedule`` (``loss`` is the final-loss law's, for a run decayed
    #: as the fitted runs were) and its interval
    schedule_loss: float = math.nan
    schedule_loss_ci: tuple[float, float] | None = None
    constraint: str = "compute-optimal"
    notes: list[str] = field(default_factory=list)

    @property
    def tokens_per_param(self) -> float:
        """Training tokens per parameter, ``D / N``."""
        return self.D / self.N

    def to_dict(self) -> dict:
        """The plan as a JSON-ready dict: each quantity with its interval (non-finite as None)."""
        def iv(x):
            return None if x is None else [_f(x[0]), _f(x[1])]

        return {
            "budget": _f(self.budget), "constraint": self.constraint,
            "N": {"value": _f(self.N), "ci": iv(self.N_ci)},
            "D": {"value": _f(self.D), "ci": iv(self.D_ci)},
            "tokens_per_param": _f(self.tokens_per_param),
            "unique_tokens": _f(self.unique_tokens), "epochs": _f(self.epochs),
            "train_flops": _f(self.train_flops), "inference_flops": _f(self.inference_flops),
            "loss": {"value": _f(self.loss), "ci": iv(self.loss_ci),
                     "interval": self.loss_interval},
            "lr": {"value": _f(self.lr), "ci": iv(self.lr_ci)},
            "batch_tokens": {"value": _f(self.batch_tokens), "ci": iv(self.batch_ci)},
            "steps": int(self.steps), "warmup": int(self.warmup), "schedule": self.schedule,
            "schedule_loss": {"value": _f(self.schedule_loss), "ci": iv(self.schedule_loss_ci)},
            "curve": {k: [_f(v) for v in vals] for k, vals in self.curve.items()},
            "notes": list(self.notes),
        }


@dataclass
class PlanResult:
    """What :func:`plan` returns: one :class:`BudgetPlan` per budget, where each input came
    from (``sources``: "your fit" or "published default", with its citation), the schedule
    the curve law chose, and the target-loss answer when one was asked for."""

    plans: list[BudgetPlan]
    sources: dict[str, dict]
    settings: dict = field(default_factory=dict)
    schedule: dict = field(default_factory=dict)
    target: dict | None = None
    frontier: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    level: float = 0.95

    def to_dict(self) -> dict:
        """The JSON record (``kind`` "plan"): settings, sources, schedule, target, plans and
        frontier."""
        return {"schema": 1, "kind": "plan", "level": self.level, "settings": _jsonable(self.settings),
                "sources": _jsonable(self.sources), "schedule": _jsonable(self.schedule),
                "target": _jsonable(self.target),
                "plans": [p.to_dict() for p in self.plans],
                "frontier": _jsonable(self.frontier), "notes": list(self.notes)}

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str | None:
        """The plan as JSON text (docs/plan-json.md), or written to ``path`` (then None, as
        for a fit)."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is None:
            return text
        atomic_write_text(Path(path), text + "\n")
        return None

    def summary(self) -> str:
        """The plan as plain text: one block per budget, then where each input came from."""
        lv = f"{100 * self.level:.0f}%"
        out = []
        if self.target:
            t = self.target
            ci = t.get("budget_ci")
            out.append(f"target loss {t['loss']:.4g}: smallest {t['budget_kind']} "
                       f"{_g(t['budget'])}" + (f"  [{_g(ci[0])}, {_g(ci[1])}] ({lv})" if ci else ""))
            out.extend(f"  note: {n}" for n in t.get("notes", []))
            out.append("")
        for p in self.plans:
            what = "lifetime FLOPs" if p.inference_flops else "training FLOPs"
            out.append(f"budget {_g(p.budget)} {what} ({p.constraint})")
            out.append(f"  N      {_g(p.N)} params" + _ci(p.N_ci))
            out.append(f"  D      {_g(p.D)} tokens" + _ci(p.D_ci)
                       + f"   {p.tokens_per_param:.1f} tokens/param")
            if p.epochs is not None:
                out.append(f"  data   {_g(p.unique_tokens)} unique tokens, {p.epochs:.2f} epochs")
            if p.inference_flops:
                out.append(f"  FLOPs  training {_g(p.train_flops)} + inference {_g(p.inference_flops)}")
            out.append(f"  loss   {p.loss:.4f}" + _ci(p.loss_ci, fmt="{:.4f}")
                       + (f"   ({p.loss_interval})" if p.loss_interval else ""))
            out.append(f"  lr     {p.lr:.3g}" + _ci(p.lr_ci, fmt="{:.3g}")
                       + f"   batch {_g(p.batch_tokens)} tokens" + _ci(p.batch_ci))
            out.append(f"  steps  {p.steps} (warmup {p.warmup})   schedule {p.schedule}")
            if p.curve:
                st, ls = p.curve["step"], p.curve["loss"]
                pick = sorted({min(int(q * (len(st) - 1)), len(st) - 1) for q in _PROBE})
                pts = ", ".join(f"{st[i]}: {ls[i]:.3f}" for i in pick)
                out.append(f"  curve  {pts}   (step: predicted loss)")
            out.extend(f"  note: {n}" for n in p.notes)
            out.append("")
        out.append("sources:")
        for k, s in self.sources.items():
            out.append(f"  {k:<6} {s['label']}: {s['source']}")
        if self.schedule.get("reason"):
            out.append(f"schedule: {self.schedule['reason']}")
        out.extend(f"note: {n}" for n in self.notes)
        return "\n".join(out)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        own = [k for k, s in self.sources.items() if s["label"] == LABEL_USER]
        budgets = ", ".join(_g(p.budget) for p in self.plans)
        return (f"<PlanResult {len(self.plans)} budget(s) [{budgets}]; "
                f"own fits: {', '.join(own) or 'none'}>")


# ---------------------------------------------------------------------- published inputs
def published_fit() -> FitResult:
    """The shipped Chinchilla fit with its bootstrap samples (a :class:`FitResult`)."""
    from scalefit.result import FitResult

    if PUBLISHED_FIT_PATH.is_file():
        return FitResult.from_json(PUBLISHED_FIT_PATH)
    # a copy of the package without its data files: the point estimate alone
    pub = PUBLISHED["final"]
    return FitResult(law="chinchilla", params_=dict(pub["params"]), objective_=0.0, n_points=0)


def published_curve_fit() -> CurveFitResult:
    """The published multi-power law (400M) as a curve fit."""
    from scalefit.curves.result import CurveFitResult

    pub = PUBLISHED["curve"]
    return CurveFitResult(law="multi_power", params=dict(pub["params"]), objective=0.0,
                          n_points=0)


# ---------------------------------------------------------------------- the loss model
class _LossModel:
    """Final loss of (N, D[, U]) for the point fit (row 0) and each bootstrap sample.

    Chinchilla-form laws (chinchilla, overtrain) become E, A, B, alpha, beta; with unique data
    the data-constrained law takes over where D > U, with R_D*, R_N* from the fit when it is a
    data_constrained fit and Muennighoff et al.'s otherwise."""

    def __init__(self, fit, unique_tokens: float | None):
        law = fit.law_
        names = law.param_names
        rows = [fit._theta()]
        if fit.samples is not None and len(fit.samples):
            rows += list(np.asarray(fit.samples, float))
        th = np.asarray(rows, float)
        self.law = law
        self.dc_published = False
        if law.name in ("chinchilla", "data_constrained"):
            cf = th[:, [names.index(k) for k in ("E", "A", "B", "alpha", "beta")]]
        elif law.name == "overtrain":
            i = [names.index(k) for k in ("E", "A", "B", "alpha")]
            cf = np.column_stack([th[:, i], th[:, names.index("alpha")]])
        else:
            raise UsageError(f"a {law.name!r} fit does not allocate model size and tokens",
                             where="--fit",
                             hint="plan needs a final-loss law of N and D: chinchilla, overtrain "
                                  "or data_constrained")
        self.cf = cf
        self.U = unique_tokens
        self.dc = None
        if law.name == "data_constrained":
            self.dc_law = law
            self.dc = th
        elif unique_tokens is not None:
            from scalefit.laws import get_law

            self.dc_law = get_law("data_constrained")
            dcp = PUBLISHED["data_constrained"]["params"]
            self.dc = np.column_stack([cf, np.full(len(cf), dcp["rd_star"]),
                                       np.full(len(cf), dcp["rn_star"])])
            self.dc_published = True

    def __len__(self) -> int:
        return len(self.cf)

    def loss(self, N: np.ndarray, D: np.ndarray, rows: slice | np.ndarray = slice(None)):
        """Loss for (S, G) arrays N, D, one row per parameter vector in ``rows``."""
        cf = self.cf[rows]
        E, A, B, al, be = (cf[:, i, None] for i in range(5))
        with np.errstate(all="ignore"):
            out = E + A * N ** -al + B * D ** -be
            if self.dc is not None:
                U = D if self.U is None else np.minimum(self.U, D)
                dc = self.dc_law._predict({"N": N, "D": D, "U": U}, self.dc[rows])
                use = np.ones_like(out, bool) if self.U is None else (D > self.U)
                out = np.where(use, dc, out)
        return out


def allocate(model: _LossModel, C, *, inference_tokens: float | None = None,
             max_params: float | None = None, rows: slice | np.ndarray = slice(None),
             ngrid: int = _NGRID):
    """Loss-minimising (N, D) at budget(s) C for each parameter row: arrays (S,) of N, D, loss.

    ``C`` is training FLOPs (D = C/6N) or, with ``inference_tokens`` T, lifetime FLOPs
    (D = (C - 2NT)/6N). A grid over tokens per parameter, then a parabola through the best
    point and its neighbours (the loss is smooth and convex in log N along the budget)."""
    cf = model.cf[rows]
    S = len(cf)
    C = np.broadcast_to(np.asarray(C, float), (S,))[:, None]
    r = np.geomspace(_R_LO, _R_HI, ngrid)[None, :]
    logN = 0.5 * np.log(C / (6.0 * r))  # N for each tokens-per-parameter ratio, training only
    if inference_tokens:
        # lifetime budget: the largest N has D -> 0; search log N up to there
        top = np.log(C / (2.0 * inference_tokens)) - 1e-9
        lo = np.minimum(logN.min(axis=1, keepdims=True), top - 1.0)
        logN = lo + (top - lo) * np.linspace(0.0, 1.0, ngrid)[None, :]
    if max_params is not None:
        logN = np.concatenate([logN, np.full((S, 1), math.log(max_params))], axis=1)
        logN.sort(axis=1)
    N = np.exp(logN)
    D = _tokens(N, C, inference_tokens)
    with np.errstate(all="ignore"):
        L = model.loss(N, D, rows)
    bad = ~np.isfinite(L) | (D <= 0)
    if max_params is not None:
        bad |= N > max_params * (1 + 1e-12)
    L = np.where(bad, np.inf, L)
    k = np.argmin(L, axis=1)
    idx = np.arange(S)
    x = logN[idx, k]
    # parabolic refinement where both neighbours are finite
    km, kp = np.clip(k - 1, 0, logN.shape[1] - 1), np.clip(k + 1, 0, logN.shape[1] - 1)
    x0, x1, x2 = logN[idx, km], x, logN[idx, kp]
    y0, y1, y2 = L[idx, km], L[idx, k], L[idx, kp]
    with np.errstate(all="ignore"):
        den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
        num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
        xv = x1 - 0.5 * num / den
    ok = (km != k) & (kp != k) & np.isfinite(y0) & np.isfinite(y2) & np.isfinite(xv) & (den != 0)
    xv = np.where(ok, np.clip(xv, np.minimum(x0, x2), np.maximum(x0, x2)), x1)
    Nr = np.exp(xv)[:, None]
    Dr = _tokens(Nr, C, inference_tokens)
    Lr = model.loss(Nr, Dr, rows)
    better = np.isfinite(Lr[:, 0]) & (Lr[:, 0] <= y1) & (Dr[:, 0] > 0)
    if max_params is not None:
        better &= Nr[:, 0] <= max_params * (1 + 1e-12)
    Nout = np.where(better, Nr[:, 0], np.exp(x1))
    Dout = _tokens(Nout[:, None], C, inference_tokens)[:, 0]
    Lout = np.where(better, Lr[:, 0], y1)
    Lout = np.where(np.isfinite(Lout), Lout, np.nan)
    return Nout, Dout, Lout


def _tokens(N, C, T):
    if T:
        return (C - 2.0 * N * T) / (6.0 * N)
    return C / (6.0 * N)


def _smallest_budget(model: _LossModel, target: float, *, inference_tokens=None,
                     max_params=None) -> np.ndarray:
    """Per parameter row, the smallest budget whose best allocation reaches ``target``
    (inf where no budget does: the target lies at or below the fit's irreducible loss)."""
    S = len(model)
    lo, hi = np.full(S, math.log(1e10)), np.full(S, math.log(1e34))
    kw = {"inference_tokens": inference_tokens, "max_params": max_params, "ngrid": 201}
    _, _, Lhi = allocate(model, np.exp(hi), **kw)
    reach = np.isfinite(Lhi) & (Lhi <= target)
    for _ in range(40):  # bisection in log C: 2^-40 of 55 nats is far below any interval
        mid = 0.5 * (lo + hi)
        _, _, Lm = allocate(model, np.exp(mid), **kw)
        ok = np.isfinite(Lm) & (Lm <= target)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return np.where(reach, np.exp(hi), np.inf)


# ---------------------------------------------------------------------- schedules
def _reference(curve_fit, label: str) -> dict:
    """Peak LR, warmup and steps of the runs the curve law was fitted on."""
    if label == LABEL_PUBLISHED:
        return dict(PUBLISHED["curve"]["reference"])
    from scalefit.schedules import parse_schedule

    for c in getattr(curve_fit, "curves", None) or []:
        spec = c.get("schedule") if isinstance(c, dict) else None
        if not spec:
            continue
        try:
            s = parse_schedule(spec)
            return {"peak": float(s.options.get("peak", s.lr().max())),
                    "warmup": int(s.options.get("warmup", 0)), "steps": int(s.total_steps)}
        except Exception:  # noqa: BLE001 (a stored schedule that no longer parses)
            continue
    raise UsageError("the curve fit records no schedule to take its peak LR, warmup and "
                     "length from", where="--curve-fit",
                     hint="fit it from curves with an lr column or a --schedule")


def _choose_schedule(curve_fit, ref: dict, family: str) -> dict:
    """The curve law's choice at its own reference run: WSD decay fraction, shape and final
    LR from the schedule search, or cosine; plus the loss curves that carry its shape."""
    from scalefit.fitting.schedule_search import search_wsd
    from scalefit.schedules import parse_schedule

    steps, peak, warm = int(ref["steps"]), float(ref["peak"]), int(ref["warmup"])
    cosine = parse_schedule({"family": "cosine", "peak": peak, "warmup": warm, "steps": steps,
                             "final": 0.1 * peak})
    if family == "cosine":
        chosen, out = cosine, {"family": "cosine", "final_fraction": 0.1,
                               "reason": "cosine to 10% of the peak LR, as asked"}
    elif family == "wsd":
        rows = search_wsd(curve_fit, steps=steps, peak=peak, warmup=warm,
                          shapes=("linear", "cosine", "1-sqrt"), finals=(0.0, 0.1))
        best = rows[0]
        chosen = parse_schedule(best["spec"])
        out = {"family": "wsd", "decay": best["decay"], "shape": best["shape"],
               "final_fraction": best["final"] / peak,
               "reason": f"WSD: the curve law's schedule search ({len(rows)} candidates) at its "
                         f"reference run ({steps} steps, peak {peak:g}) picks a {best['shape']} "
                         f"decay over the last {100 * best['decay']:.0f}% to "
                         f"{100 * best['final'] / peak:.0f}% of the peak"}
    else:
        raise UsageError(f"unknown schedule {family!r}", where="--schedule",
                         hint="wsd or cosine")
    t = np.arange(steps)
    pred = curve_fit.law_obj.predict
    from scalefit.curves.data import Curve

    grid = np.unique(np.r_[np.linspace(warm, steps - 1, 200).astype(int), steps - 1])
    ls = pred(Curve("plan", chosen.lr(t), grid, None, None), curve_fit.params)
    lc = pred(Curve("cosine", cosine.lr(t), np.array([steps - 1]), None, None), curve_fit.params)
    L0 = float(curve_fit.params.get("L0", 0.0))
    out.update({"reference": dict(ref), "u": (grid / (steps - 1)).tolist(),
                "excess": (np.asarray(ls) - L0).tolist(), "excess_cosine": float(lc[-1] - L0),
                "warmup_fraction": warm / steps})
    return out


def _schedule_spec(sch: dict, peak: float, warmup: int, steps: int) -> str:
    from scalefit.schedules import parse_schedule

    o = {"family": sch["family"], "peak": float(f"{peak:.4g}"), "warmup": warmup,
         "steps": steps, "final": float(f"{sch['final_fraction'] * peak:.4g}")}
    if sch["family"] == "wsd":
        o.update(decay=sch["decay"], shape=sch["shape"])
    return parse_schedule(o).to_spec()


# ---------------------------------------------------------------------- plan
def _load(obj, what: str, where: str):
    """A fit given as a result object or a path to an artefact (validated on load)."""
    if obj is None or not isinstance(obj, (str, Path)):
        return obj
    from scalefit.result import load_artefact

    p = Path(obj)
    if not p.is_file():
        raise InputError(f"{what} file not found", where=str(obj),
                         hint="pass the JSON artefact `scalefit fit ... --json FILE` wrote")
    return load_artefact(p)


def plan(budgets: float | Sequence[float] | None, *, fit: FitLike | None = None,
         curve_fit: CurveFitResult | str | Path | None = None,
         lr_fit: FitLike | Sequence[FitLike] | None = None, unique_tokens: float | None = None,
         max_params: float | None = None, inference_tokens: float | None = None,
         target_loss: float | None = None, schedule: str = "wsd") -> PlanResult:
    """A training plan for each compute budget (FLOPs; lifetime FLOPs 6ND + 2NT with
    ``inference_tokens``).

    ``fit``: a final-loss fit (chinchilla, overtrain or data_constrained; a FitResult or an
    artefact path), else the shipped Chinchilla fit. ``curve_fit``: a curve-law fit for the
    schedule and the curve shape, else the published multi-power law. ``lr_fit``: a steplaw fit
    (``output=lr`` or ``output=batch``) or a list of both, else the published Step Law.
    ``target_loss`` adds the smallest budget that reaches it, planned like the others.
    """
    from scalefit.result import FitResult

    bl = [] if budgets is None else list(np.atleast_1d(np.asarray(budgets, float)))
    if not bl and target_loss is None:
        raise UsageError("no budget to plan", where="budgets",
                         hint="give one or more budgets in FLOPs, e.g. --budget 1e21, or "
                              "--target-loss")
    for b in bl:
        if not (math.isfinite(b) and b >= 1e10):
            raise UsageError(f"budget {b!r} is not a number of FLOPs (>= 1e10)",
                             where="--budget", hint="e.g. --budget 1e21,5.76e23")
    for name, v in (("unique_tokens", unique_tokens), ("max_params", max_params),
                    ("inference_tokens", inference_tokens), ("target_loss", target_loss)):
        if v is not None and not (math.isfinite(float(v)) and float(v) > 0):
            raise UsageError(f"{name} must be a positive number, got {v!r}",
                             where="--" + name.replace("_", "-"))
    if schedule not in ("wsd", "cosine"):
        raise UsageError(f"unknown schedule {schedule!r}", where="--schedule",
                         hint="wsd or cosine")

    sources: dict[str, dict] = {}
    fit = _load(fit, "fit", "--fit")
    if fit is None:
        fit = published_fit()
        sources["final"] = {"label": LABEL_PUBLISHED, "law": "chinchilla",
                            "source": PUBLISHED["final"]["source"]}
    else:
        if not isinstance(fit, FitResult):
            raise UsageError(f"--fit must be a final-loss fit; this is a {fit.law!r} curve fit",
                             where="--fit", hint="pass a loss-curve fit with --curve-fit")
        sources["final"] = {"label": LABEL_USER, "law": fit.law,
                            "source": f"{fit.law} fit on {fit.n_runs} runs ({fit.metric!r})"}
    model = _LossModel(fit, unique_tokens)
    if model.dc_published:
        sources["data"] = {"label": LABEL_PUBLISHED, "law": "data_constrained",
                           "source": PUBLISHED["data_constrained"]["source"]}
    elif model.dc is not None:
        sources["data"] = {"label": LABEL_USER, "law": "data_constrained",
                           "source": "R_D*, R_N* of your data_constrained fit"}

    lr_fits = {"lr": None, "batch": None}
    for f in (lr_fit if isinstance(lr_fit, (list, tuple)) else [lr_fit]):
        f = _load(f, "lr fit", "--lr-fit")
        if f is None:
            continue
        law = getattr(f, "law_", None)
        if not isinstance(f, FitResult) or law is None or law.name != "steplaw":
            raise UsageError(f"--lr-fit must be a steplaw fit, got {getattr(f, 'law', f)!r}",
                             where="--lr-fit", hint="fit one with --law steplaw "
                                                    "(or steplaw:output=batch)")
        lr_fits[law.which] = f
    for k in ("lr", "batch"):
        if lr_fits[k] is None:
            sources[k] = {"label": LABEL_PUBLISHED, "law": PUBLISHED[k]["law"],
                          "source": PUBLISHED[k]["source"]}
        else:
            sources[k] = {"label": LABEL_USER, "law": lr_fits[k].law,
                          "source": f"steplaw fit on {lr_fits[k].n_runs} runs"}

    curve_fit = _load(curve_fit, "curve fit", "--curve-fit")
    if curve_fit is None:
        curve_fit = published_curve_fit()
        sources["curve"] = {"label": LABEL_PUBLISHED, "law": "multi_power",
                            "source": PUBLISHED["curve"]["source"]}
    else:
        if getattr(curve_fit, "kind", None) != "curve" or curve_fit.law.startswith("joint_"):
            raise UsageError("--curve-fit must be a single-size loss-curve fit (multi_power or "
                             "lr_annealing)", where="--curve-fit",
                             hint="the final-loss fit goes to --fit")
        sources["curve"] = {"label": LABEL_USER, "law": curve_fit.law,
                            "source": f"{curve_fit.law} fit on {len(curve_fit.curves)} curves"}
    if sources["curve"]["label"] == LABEL_PUBLISHED:  # the same answer every time: once
        if schedule not in _PUBLISHED_SCHEDULES:
            _PUBLISHED_SCHEDULES[schedule] = _choose_schedule(
                curve_fit, _reference(curve_fit, LABEL_PUBLISHED), schedule)
        sch = _PUBLISHED_SCHEDULES[schedule]
    else:
        sch = _choose_schedule(curve_fit, _reference(curve_fit, LABEL_USER), schedule)

    level = fit.level
    notes: list[str] = []
    if len(model) > 1:
        notes.append(f"N and D intervals: the allocation solved for each of the fit's "
                     f"{len(model) - 1} bootstrap samples (parameter uncertainty; the loss "
                     "interval also carries the fit's backtest when it has one)")
    else:
        notes.append("the final-loss fit has no bootstrap samples: no intervals for N, D and "
                     "the loss (fit with --bootstrap K to get them)")
    T = float(inference_tokens) if inference_tokens else None
    target = None
    if target_loss is not None:
        if float(target_loss) <= model.cf[0, 0]:
            raise UsageError(f"target loss {target_loss} is not reachable: the fit's irreducible "
                             f"loss is {model.cf[0, 0]:.4g}", where="--target-loss",
                             hint="ask for a loss above the irreducible loss E")
        Cs = _smallest_budget(model, float(target_loss), inference_tokens=T,
                              max_params=max_params)
        target = {"loss": float(target_loss),
                  "budget_kind": "lifetime FLOPs" if T else "training FLOPs",
                  "budget": _f(Cs[0]), "budget_ci": None, "notes": []}
        if len(Cs) > 1:
            lo, hi = _pct(Cs[1:], level)
            target["budget_ci"] = [_f(lo), _f(hi)]
            never = float(np.mean(~np.isfinite(Cs[1:])))
            if never > 0:
                target["notes"].append(f"{100 * never:.0f}% of the bootstrap fits never reach "
                                       "this loss (it lies at or below their irreducible loss)")
        if not math.isfinite(Cs[0]):
            raise UsageError(f"target loss {target_loss} is not reachable: the fit's irreducible "
                             f"loss is {model.cf[0, 0]:.4g}", where="--target-loss",
                             hint="ask for a loss above the irreducible loss E")
        bl.append(float(Cs[0]))

    plans = [_plan_one(C, fit, model, lr_fits, sch, level, T, unique_tokens, max_params)
             for C in bl]
    if target is not None:
        plans[-1].constraint += ", target loss"
    frontier = _frontier(model, bl, T, max_params)
    settings = {"budgets": bl, "unique_tokens": unique_tokens, "max_params": max_params,
                "inference_tokens": inference_tokens, "target_loss": target_loss,
                "schedule": schedule}
    sch_out = {k: v for k, v in sch.items() if k not in ("u", "excess")}
    return PlanResult(plans, sources, settings, sch_out, target, frontier, notes, level)


def _plan_one(C, fit, model, lr_fits, sch, level, T, U, max_params) -> BudgetPlan:
    Ns, Ds, Ls = allocate(model, C, inference_tokens=T, max_params=max_params)
    N, D = float(Ns[0]), float(Ds[0])
    if not (math.isfinite(N) and math.isfinite(D) and D > 0 and N >= 1e4):
        raise UsageError(f"no allocation at budget {_g(C)}: the inference demand leaves no "
                         "room for a language model (under 1e4 parameters)", where="--budget",
                         hint="raise the budget or lower --inference-tokens")
    p = BudgetPlan(budget=float(C), N=N, D=D)
    notes = p.notes
    if len(Ns) > 1:
        p.N_ci, p.D_ci = _pct(Ns[1:], level), _pct(Ds[1:], level)
    p.train_flops = 6.0 * N * D
    p.inference_flops = 2.0 * N * T if T else 0.0
    kinds = []
    if max_params is not None and N >= max_params * (1 - 1e-9):
        kinds.append("at --max-params")
    if U is not None:
        p.unique_tokens = float(U)
        p.epochs = D / float(U)
        if D > U:
            kinds.append("data-constrained")
    if T:
        kinds.append("inference-aware")
    p.constraint = ", ".join(kinds) or "compute-optimal"
    # final loss at the chosen (N, D): the fit's calibrated interval where the law allows it
    dc_active = model.dc is not None and (U is None or D > U)
    if not dc_active and fit.law in ("chinchilla", "overtrain"):
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always")
            pr = fit.predict(N=N, D=D)
        p.loss = float(pr.value)
        if pr.lo is not None:
            p.loss_ci = (float(pr.lo), float(pr.hi))
        p.loss_interval = ("bootstrap, widened by the fit's backtest" if pr.method and
                           "backtest" in pr.method else (pr.method or ""))
        notes.extend(dict.fromkeys(str(w.message) for w in caught))
    else:
        L = model.loss(np.array([[N]]), np.array([[D]]))[:, 0]
        p.loss = float(L[0])
        if len(L) > 1:
            p.loss_ci = _pct(L[1:], level)
            p.loss_interval = "bootstrap, parameter uncertainty only"
    _hyper(p, lr_fits, level)
    steps = max(int(math.ceil(D / p.batch_tokens)), 1)
    p.steps = steps
    p.warmup = int(round(sch["warmup_fraction"] * steps))
    p.schedule = _schedule_spec(sch, p.lr, p.warmup, steps)
    _curve(p, sch, model.cf[0, 0])
    if not 1.0 <= D / N <= 1e4:
        notes.append(f"{D / N:.3g} tokens per parameter: outside the 1-10,000 range that "
                     "scaling laws have been checked on (Sardana et al. 2024 reach 10,000)")
    if steps < 100:
        notes.append(f"only {steps} optimizer steps at this batch size: a budget this small is "
                     "outside the range the Step Law was fitted on")
    return p


def _hyper(p: BudgetPlan, lr_fits: dict, level: float) -> None:
    for key in ("lr", "batch"):
        f = lr_fits[key]
        if f is None:
            pp = PUBLISHED[key]["params"]
            v = (pp["c"] * p.N ** pp["a"] * p.D ** pp["b"] if key == "lr"
                 else pp["k"] * p.D ** pp["g"])
            ci = None
        else:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                pr = f.predict(N=p.N, D=p.D)
            v = float(pr.value)
            ci = None if pr.lo is None else (float(pr.lo), float(pr.hi))
        if key == "lr":
            p.lr, p.lr_ci = float(v), ci
        else:
            p.batch_tokens, p.batch_ci = float(v), ci


def _curve(p: BudgetPlan, sch: dict, E: float) -> None:
    """The curve law's shape carried to this run: the excess over each law's irreducible loss
    keeps its proportion through training, scaled so that a cosine run ends at the final-loss
    law's prediction (the final-loss laws describe runs decayed to their end)."""
    u = np.asarray(sch["u"])
    ex = np.asarray(sch["excess"])
    k = (p.loss - E) / sch["excess_cosine"]
    loss = E + ex * k
    steps = np.round(u * (p.steps - 1)).astype(int)
    curve = {"step": steps.tolist(), "loss": loss.tolist()}
    p.schedule_loss = float(loss[-1])
    if p.loss_ci is not None:
        lo = E + ex * (p.loss_ci[0] - E) / sch["excess_cosine"]
        hi = E + ex * (p.loss_ci[1] - E) / sch["excess_cosine"]
        curve["lo"], curve["hi"] = lo.tolist(), hi.tolist()
        p.schedule_loss_ci = (float(lo[-1]), float(hi[-1]))
    p.curve = curve
    if sch["family"] == "wsd":
        p.notes.append(f"under this WSD schedule the run ends at {loss[-1]:.4f}, "
                       f"{p.loss - loss[-1]:.4f} below a cosine run (the curve law's ratio)")


def _frontier(model: _LossModel, budgets: list, T, max_params) -> dict:
    """Optimal N, D and loss along a range of budgets around the planned ones (for plots)."""
    if not budgets:
        return {}
    lo, hi = math.log10(min(budgets)) - 1.5, math.log10(max(budgets)) + 1.5
    Cs = np.logspace(lo, hi, 31)
    N, D, L = (np.array(a) for a in zip(*[
        (float(x[0]), float(y[0]), float(z[0])) for x, y, z in
        (allocate(model, c, inference_tokens=T, max_params=max_params, rows=slice(0, 1))
         for c in Cs)], strict=True))
    ok = np.isfinite(N) & np.isfinite(D) & (D > 0)
    return {"budget": Cs[ok].tolist(), "N": N[ok].tolist(), "D": D[ok].tolist(),
            "loss": L[ok].tolist()}


# ---------------------------------------------------------------------- helpers
def _pct(a, level: float) -> tuple[float, float]:
    q = (1 - level) / 2
    a = np.asarray(a, float)
    a = a[~np.isnan(a)]
    if not a.size:
        return (math.nan, math.nan)
    with np.errstate(invalid="ignore"):  # infinite budgets (never reached) are allowed
        return (float(np.percentile(a, 100 * q)), float(np.percentile(a, 100 * (1 - q))))


def _f(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _g(x) -> str:
    if x is None or not math.isfinite(float(x)):
        return "-"
    return f"{float(x):.3g}"


def _ci(ci, fmt: str | None = None) -> str:
    if ci is None:
        return ""
    f = (lambda v: fmt.format(v)) if fmt else _g
    return f"  [{f(ci[0])}, {f(ci[1])}]"


def _jsonable(x):
    from scalefit.artefacts import jsonable

    return jsonable(x)


# ---------------------------------------------------------------------- figure
def plot_plan(result: PlanResult, path: str | Path | None = None, *, dpi: int = 150) -> Any:
    """Two panels: the compute-optimal frontier (N and D against budget) with the planned
    points and their intervals, and the predicted loss curve of each plan with its band.
    Returns the figure; saved to ``path`` (PNG/SVG/PDF) when given."""
    from scalefit.figstyle import PALETTE, add_grid, add_legend, budget_colours, headless_pyplot

    plt = headless_pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.0, 4.4), constrained_layout=True)
    fr = result.frontier
    if fr:
        ax1.loglog(fr["budget"], fr["N"], color=PALETTE["blue"], lw=1.2, label="N (parameters)")
        ax1.loglog(fr["budget"], fr["D"], color=PALETTE["vermillion"], lw=1.2,
                   label="D (tokens)")
    cols = budget_colours(len(result.plans))
    for p, c in zip(result.plans, cols, strict=True):
        for v, ci, colour in ((p.N, p.N_ci, PALETTE["blue"]), (p.D, p.D_ci, PALETTE["vermillion"])):
            err = None if ci is None else [[v - ci[0]], [ci[1] - v]]
            ax1.errorbar([p.budget], [v], yerr=err, fmt="o", color=colour, mec=c, mew=1.5,
                         ms=6, capsize=3)
        cv = p.curve
        if cv:
            label = f"{p.budget:.3g} FLOPs: N {p.N:.3g}, D {p.D:.3g}"
            ax2.plot(cv["step"], cv["loss"], color=c, lw=1.4, label=label)
            if "lo" in cv:
                ax2.fill_between(cv["step"], cv["lo"], cv["hi"], color=c, alpha=0.2, lw=0)
    kind = "lifetime" if result.settings.get("inference_tokens") else "training"
    ax1.set_xlabel(f"{kind} compute (FLOPs)")
    ax1.set_ylabel("compute-optimal N (parameters), D (tokens)")
    ax1.set_title("frontier and planned points", fontsize=10)
    add_grid(ax1)
    add_legend(ax1, where="upper left")
    ax2.set_xlabel("optimizer step")
    ax2.set_ylabel("predicted loss (nats/token)")
    ax2.set_title(f"predicted curves ({result.schedule.get('family', '')} schedule)", fontsize=10)
    add_grid(ax2)
    add_legend(ax2, where="upper right")
    own = [k for k, s in result.sources.items() if s["label"] == LABEL_PUBLISHED]
    if own:
        fig.suptitle("published defaults: " + ", ".join(own), fontsize=8, color="#555555")
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=dpi)
        plt.close(fig)
    return fig
