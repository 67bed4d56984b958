"""Conformance checks for scaling laws, shipped with the library so that any law can be checked:
the registered ones, their option variants, and a law of your own.

>>> from scalefit.laws import get_law
>>> from scalefit.laws.testing import check_law
>>> report = check_law(get_law("chinchilla"))            # doctest: +SKIP
>>> report["recovery"]["max_rel_error"] < 0.6              # doctest: +SKIP
True

:func:`check_law` runs every check on one law and raises :class:`LawCheckError` (an
``AssertionError``, so test runners report it as a failure) naming the law, the check and the
numbers at the first one that fails; it returns what each check measured.

Checks of a :class:`~scalefit.laws.Law` (final-loss, loss-to-loss and task laws):

``declaration``
    names unique identifiers, bounds ordered (non-negative under a log transform), a formula,
    a source and a docstring, a finite start grid of at most ``max_starts`` points inside the
    bounds, inputs that name their column or tag, example parameters inside the bounds.
``domain``
    the prediction is finite over the example input ranges, and positive where the law
    predicts a loss, an accuracy, a learning rate or a batch size.
``broadcasting``
    one (n,) prediction per parameter vector of a batch (S, P), the Jacobian (n, P) and
    (S, n, P), named parameters as the array, a scalar input as a constant column.
``jacobian``
    the law's Jacobian against central finite differences (relative error < 1e-5 per column).
``linear_basis``
    for laws with linear parameters: ``basis @ linear`` equals the prediction.
``derived``
    derived quantities and the compute-optimal allocation are finite at the example.
``round_trip``
    ``describe()`` is JSON; a registered law rebuilt by ``get_law(law.spec)`` (options
    included) has the same parameters and predictions.
``recovery``
    the example parameters are recovered by scalefit's own fit (multi-start, variable
    projection, L-BFGS-B; squared log residuals) from synthetic data with 0.5% log-normal noise:
    the fit is at least as good as the truth, its residuals are at the noise level, its curve
    stays within 1% of the truth over the whole domain, and each parameter is within its
    tolerance (:data:`TOLERANCES`).

Checks of a loss-curve law (``multi_power``, ``lr_annealing``, ``ensemble``, the joint laws):
the same ``declaration`` (starts and paper defaults inside the bounds), ``domain`` (finite, and
falling at every log of a cosine schedule), ``broadcasting`` (a subset of steps, named
parameters), ``jacobian`` (``grad`` against finite differences), ``linear_basis``
(``linear_design``), ``round_trip``, and ``recovery``: ``scalefit.curves.fit_curves`` on three
noisy training schedules (0.1% noise) predicts a schedule it never saw within 0.1%, and the
fitted result read back from its JSON predicts the same; ``recovery_default`` repeats it with
the law's default method where that is not L-BFGS-B.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.laws.base import KINDS, Law, get_law, law_kinds

__all__ = ["CURVE_CHECKS", "LAW_CHECKS", "LawCheckError", "TOLERANCES", "check_law"]

#: the checks of a :class:`Law`, in the order they run
LAW_CHECKS = ("declaration", "domain", "broadcasting", "jacobian", "linear_basis", "derived",
              "round_trip", "recovery")
#: the checks of a loss-curve law, in the order they run
CURVE_CHECKS = ("declaration", "domain", "broadcasting", "jacobian", "linear_basis",
                "round_trip", "recovery", "recovery_default")

#: log-normal noise of the synthetic final-loss data (0.5% per point)
NOISE = 0.005
#: the fit's root-mean-square log residual may exceed the noise by this factor
RMS_FACTOR = 1.3
#: the fitted curve may leave the true one by this much (log) anywhere on the domain
MAX_CURVE_DEV = 0.01
#: relative error allowed on each column of the Jacobian
JACOBIAN_RTOL = 1e-5
#: start grids larger than this make every fit slow; Hoffmann et al.'s grid is the exception
#: (a law that subclasses a registered one, e.g. ``chinchilla_prior``, takes its parent's entry here
#: and in TOLERANCES unless it has its own)
MAX_STARTS = {"*": 500, "chinchilla": 4500, "overtrain": 4500}

#: recovery tolerance by law spec: relative error allowed per parameter (``"*"`` is the law's
#: default; ``None``: not checked). With 0.5% noise per point exponents come back to about 1%,
#: while amplitudes trade off against exponents over the few decades of data and come back to
#: 10-50%. The sharpness f_i of a bnsl break is not identified once the break is sharper than
#: the spacing of the data, so it is not checked; every fit's curve is checked against the
#: truth instead. Curve laws: ``unseen`` (worst relative error on the held-out schedule),
#: ``fit`` (mean relative error on each training curve), ``unseen_default`` (with the law's
#: default method) and per-parameter limits.
TOLERANCES: dict[str, dict[str, float | None]] = {
    "*": {"*": 0.05},
    "chinchilla": {"*": 0.1, "A": 0.6, "B": 0.6},
    "power": {"*": 0.05, "A": 0.4},
    "power:x=C": {"*": 0.05, "A": 0.4},
    "power:x=D": {"*": 0.05, "A": 0.4},
    "kaplan": {"*": 0.1},
    "kaplan:x=C": {"*": 0.1},
    "kaplan:x=D": {"*": 0.1},
    "kaplan_nd": {"*": 0.05, "N_c": 0.25, "D_c": 0.15},
    "kaplan_nd_e": {"*": 0.05, "N_c": 0.25, "D_c": 0.25},
    "kaplan_ns": {"*": 0.05, "N_c": 0.2, "B_star": 0.3},
    "data_constrained": {"*": 0.1, "A": 0.5, "B": 0.2, "rd_star": 0.15, "rn_star": 0.4},
    "data_constrained:G=0.2258": {"*": 0.1, "A": 0.25, "B": 0.2, "rn_star": 0.4},
    "bnsl": {"*": 0.1, "f1": None},
    "bnsl:x=C": {"*": 0.1, "f1": None},
    "bnsl:breaks=2": {"*": 0.1, "c2": 0.3, "d2": 0.2, "f1": None, "f2": None},
    "bnsl:breaks=3": {"*": 0.1, "c3": 0.5, "d3": 0.3, "f1": None, "f2": None, "f3": None},
    "moe": {"*": 0.1},
    "nmt": {"*": 0.08},
    "loss_to_loss": {"*": 0.3, "E_x": 0.5, "E_y": 0.5},
    # curve laws: with 0.1% noise, L-BFGS-B predicts the unseen schedule to 0.03-0.07%;
    # multi_power's default (the paper's early-stopped Adam) to 0.31%
    "curve*": {"*": None, "L0": 0.01, "unseen": 1e-3, "fit": 1.2e-3, "unseen_default": 5e-3},
    # the ensemble fits its two members each on its own, so its parameters are not those of
    # the mean law that made the data: its forecast is checked, not its parameters
    "ensemble": {"*": None, "unseen": 2.5e-3, "fit": 1.2e-3},  # measured 0.16%
}

#: synthetic points per law spec (more for laws with many weakly identified parameters)
N_POINTS = {"*": 80, "bnsl:breaks=2": 150, "bnsl:breaks=3": 250, "kaplan_ns": 200,
            "data_constrained": 200, "data_constrained:G=0.2258": 200}

#: the synthetic loss curves of the curve-law checks: three training schedules, a held-out one
CURVE_STEPS = 6000
CURVE_TRAIN = ("cosine:peak=3e-4,warmup=500,steps=6000,final=3e-5",
               "constant:peak=3e-4,warmup=500,steps=6000",
               "wsd:peak=3e-4,warmup=500,steps=6000,decay=0.2,final=3e-5")
CURVE_HELD_OUT = "wsd:peak=3e-4,warmup=500,steps=6000,decay=0.5,final=0,shape=1-sqrt"
#: model sizes of the joint laws' curves
CURVE_SIZES = (25e6, 1e8, 4e8)
#: log-normal noise of the synthetic curves (0.1% per logged step)
CURVE_NOISE = 1e-3

# the fixed seeds the default tolerances were measured with
_DEFAULT_SEEDS = {"example": 0, "jacobian": 1, "basis": 2, "fit_inputs": 3, "noise": 4,
                  "domain": 6, "curve_noise": 7}


class LawCheckError(ScalefitError, AssertionError):
    """A law that fails a conformance check; ``law``, ``check`` and ``numbers`` say which
    law, which check and what was measured."""

    def __init__(self, law: str, check: str, message: str, *,
                 numbers: Mapping[str, Any] | None = None, hint: str | None = None):
        self.law, self.check, self.numbers = law, check, dict(numbers or {})
        super().__init__(message, where=f"law {law!r}, check {check!r}", hint=hint)


# ---------------------------------------------------------------------------- entry point

def _by_lineage(table: dict, law):
    """``table``'s entry for ``law``'s name, else for the nearest registered law it subclasses
    (a variant declared from its parent's parameters shares its parent's limits); None."""
    for cls in type(law).__mro__:
        name = getattr(cls, "name", "")
        if name and name in table:
            return table[name]
    return None

def check_law(law: Law | Any | str, *, rng: np.random.Generator | int | None = None,
              checks: Iterable[str] | None = None, skip: Iterable[str] = (),
              params: Mapping[str, float] | None = None,
              inputs: Mapping[str, tuple[float, float]] | None = None,
              X: Mapping[str, np.ndarray] | None = None,
              tol: Mapping[str, float | None] | None = None, n_points: int | None = None,
              max_starts: int | None = None) -> dict[str, dict]:
    """Run the conformance checks on ``law`` (a :class:`Law`, a loss-curve law, or a name for
    :func:`get_law`); raise :class:`LawCheckError` at the first failure.

    Parameters
    ----------
    rng : Generator or int, optional
        Seeds the synthetic inputs and noise. ``None`` uses the fixed seeds the default
        tolerances were measured with.
    checks, skip : names of checks
        Run only ``checks`` (default: all of :data:`LAW_CHECKS` or :data:`CURVE_CHECKS`), less
        those in ``skip``.
    params : mapping, optional
        The true parameters (default: the law's ``example["params"]``).
    inputs : mapping, optional
        Input ranges ``{name: (low, high)}``, drawn log-uniformly (default: the law's
        ``example["inputs"]``, or its ``example_inputs``).
    X : mapping, optional
        Fixed input points instead of drawn ones (every check then uses these points).
    tol : mapping, optional
        Recovery tolerances by parameter (``"*"`` for the rest; ``None`` skips a parameter);
        by default :data:`TOLERANCES` for the law's spec, else 5%.
    n_points : int, optional
        Synthetic points of the recovery fit (default :data:`N_POINTS`, else 80).
    max_starts : int, optional
        The largest start grid allowed (default :data:`MAX_STARTS`, else 500).

    Returns
    -------
    dict
        For each check run, what it measured (``{"skipped": why}`` where it does not apply).
    """
    law = get_law(law)
    curve = not isinstance(law, Law)
    every = CURVE_CHECKS if curve else LAW_CHECKS
    chosen = list(every if checks is None else checks)
    unknown = [c for c in chosen + list(skip) if c not in every]
    if unknown:
        from scalefit.errors import UsageError

        raise UsageError(f"unknown check(s) {unknown} for law {_label(law)!r}",
                         where="checks", hint=f"one of {', '.join(every)}")
    ctx = _Context(law, rng, params, inputs, X, tol, n_points, max_starts)
    out: dict[str, dict] = {}
    table = _CURVE_CHECK_FUNCS if curve else _LAW_CHECK_FUNCS
    for name in every:
        if name in chosen and name not in skip:
            try:
                out[name] = table[name](ctx)
            except LawCheckError:
                raise
            except Exception as exc:  # noqa: BLE001 (a law that raises fails the check)
                raise LawCheckError(ctx.label, name, f"raised {type(exc).__name__}: {exc}",
                                    hint="the law's code raised while the check ran it"
                                    ) from exc
    return out


def _label(law) -> str:
    try:
        return str(law.spec)
    except Exception:  # noqa: BLE001 (a law whose options cannot be written keeps its name)
        return str(getattr(law, "name", "") or type(law).__name__)


class _Context:
    """The law, its true parameters, the seeds and tolerances, shared by the checks."""

    def __init__(self, law, rng, params, inputs, X, tol, n_points, max_starts):
        self.law = law
        self.label = _label(law)
        if rng is None:
            self.seeds = dict(_DEFAULT_SEEDS)
        else:
            g = np.random.default_rng(rng)
            self.seeds = {k: int(g.integers(2**31)) for k in _DEFAULT_SEEDS}
        self.params_given = None if params is None else dict(params)
        self.ranges = None if inputs is None else dict(inputs)
        self.X = None if X is None else {k: np.atleast_1d(np.asarray(v, float))
                                          for k, v in X.items()}
        spec = self.label
        curve = not isinstance(law, Law)
        default = TOLERANCES.get(spec) or _by_lineage(TOLERANCES, law) or (
            TOLERANCES["curve*"] if curve else TOLERANCES["*"])
        self.tol = dict(default if tol is None else {**default, **tol})
        self.n_points = int(n_points or N_POINTS.get(spec, N_POINTS["*"]))
        self.max_starts = int(max_starts or _by_lineage(MAX_STARTS, law) or MAX_STARTS["*"])

    def fail(self, check: str, message: str, hint: str | None = None, **numbers):
        raise LawCheckError(self.label, check, message, numbers=numbers, hint=hint)

    # the true parameters, as a dict and as an array in the law's order
    def truth(self, check: str) -> dict[str, float]:
        p = self.params_given if self.params_given is not None else self.law.example_params()
        if not p:
            self.fail(check, "the law declares no example parameters",
                      hint="set example = {'params': {...}, 'inputs': {...}} on the law, "
                           "or pass params= to check_law")
        names = self.law.param_names
        missing = [n for n in names if n not in p]
        extra = [n for n in p if n not in names]
        if missing or extra:
            self.fail(check, f"example parameters do not match the law's: missing {missing}, "
                             f"unknown {extra}")
        return {n: float(p[n]) for n in names}

    def theta(self, check: str) -> np.ndarray:
        return np.array(list(self.truth(check).values()), dtype=float)

    def inputs(self, check: str, n: int, seed_name: str) -> dict[str, np.ndarray]:
        if self.X is not None:
            return dict(self.X)
        seed = self.seeds[seed_name]
        if self.ranges is not None:
            rng = np.random.default_rng(seed)
            missing = [k for k in self.law.input_names if k not in self.ranges]
            if missing:
                self.fail(check, f"no input range for {missing}", hint="pass inputs={name: "
                                                                        "(low, high)}")
            return {k: np.exp(rng.uniform(np.log(self.ranges[k][0]), np.log(self.ranges[k][1]),
                                          n)) for k in self.law.input_names}
        try:
            return self.law.example_inputs(n, seed)
        except ScalefitError as exc:
            self.fail(check, f"cannot draw example inputs: {exc}",
                      hint="set example['inputs'] on the law, or pass inputs= or X=")
            raise  # unreachable: fail raises


# ---------------------------------------------------------------------------- Law checks
def _name_and_parameters(ctx: _Context, c: str) -> list[str]:
    """The checks every kind of law's declaration starts with: a name, parameters, no repeats."""
    law = ctx.law
    if not isinstance(law.name, str) or not law.name:
        ctx.fail(c, "the law has no name", hint="set the class attribute name = '...'")
    names = law.param_names
    if not names:
        ctx.fail(c, "the law declares no parameters")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        ctx.fail(c, f"parameter names repeat: {dup}")
    return names


def _declaration(ctx: _Context) -> dict:
    law, c = ctx.law, "declaration"
    names = _name_and_parameters(ctx, c)
    bad = [n for n in names if not n.isidentifier()]
    if bad:  # lmfit names its parameters so
        ctx.fail(c, f"parameter names {bad} are not Python identifiers")
    for label in ("formula", "source"):
        if not isinstance(getattr(law, label), str) or not getattr(law, label).strip():
            ctx.fail(c, f"the law has no {label} string", hint=f"set {label} = '...'")
    if not inspect.getdoc(type(law)):
        ctx.fail(c, "the law's class has no docstring (what `scalefit laws` and help show)")
    if law.kind not in KINDS:
        ctx.fail(c, f"kind {law.kind!r} is not one of {KINDS}")
    if not law.inputs:
        ctx.fail(c, "the law declares no inputs")
    inames = law.input_names
    if len(set(inames)) != len(inames):
        ctx.fail(c, f"input names repeat: {inames}")
    if law.kind == "final":
        loose = [i.name for i in law.inputs if not (i.column or i.tag)]
        if loose:
            ctx.fail(c, f"inputs {loose} name neither a runs-table column nor a tag")
    other = getattr(law, "without_e", None)
    if other is not None and (other not in law_kinds() or "E" not in names):
        ctx.fail(c, f"without_e names {other!r}, but the law has no parameter E or no law of "
                    "that name is registered", hint="name the registered law it is at E = 0")
    for p in law.params:
        if not p.lower < p.upper:
            ctx.fail(c, f"parameter {p.name!r}: lower bound {p.lower} is not below upper "
                        f"{p.upper}", lower=p.lower, upper=p.upper)
        if p.log and p.lower < 0.0:
            ctx.fail(c, f"parameter {p.name!r} is fitted in log space but its lower bound "
                        f"{p.lower} is negative", lower=p.lower)
        if p.prior is not None and not (len(p.prior) == 2 and p.lower <= p.prior[0] <= p.upper
                                        and np.isfinite(p.prior[1]) and p.prior[1] > 0):
            ctx.fail(c, f"parameter {p.name!r}: prior {p.prior} is not (centre within the "
                        "bounds, positive finite width)")
    grid = np.asarray(law.start_grid(), dtype=float)
    if grid.ndim != 2 or grid.shape[1] != len(names):
        ctx.fail(c, f"start grid has shape {grid.shape}; expected (S, {len(names)})")
    if not np.all(np.isfinite(grid)):
        ctx.fail(c, "start grid has non-finite values")
    if grid.shape[0] > ctx.max_starts:
        ctx.fail(c, f"start grid has {grid.shape[0]} points, more than {ctx.max_starts}",
                 hint="a coarser grid (variable projection seeds the linear parameters)",
                 starts=grid.shape[0])
    lo, hi = np.array([p.internal_bounds for p in law.params]).T
    outside = np.flatnonzero(np.any((grid < lo) | (grid > hi), axis=0))
    if outside.size:
        ctx.fail(c, f"start grid leaves the bounds of {[names[i] for i in outside]} (the grid "
                    "is in the optimiser's space: the log of log=True parameters)")
    theta = ctx.truth(c)
    for p in law.params:
        if not p.lower <= theta[p.name] <= p.upper:
            ctx.fail(c, f"example {p.name}={theta[p.name]} is outside its bounds "
                        f"[{p.lower}, {p.upper}]", value=theta[p.name])
    if any(p.linear for p in law.params):
        nl = law.to_natural(grid)[:2][:, [not p.linear for p in law.params]]
        if law.linear_basis(ctx.inputs(c, 5, "example"), nl) is None:
            ctx.fail(c, "parameters are marked linear=True but linear_basis returns None")
    return {"params": len(names), "starts": int(grid.shape[0]),
            "linear": [p.name for p in law.params if p.linear]}


#: outputs that are positive quantities (fitted in log space by default): a law predicting
#: one of them must predict a positive value; any other output need only be finite
POSITIVE_OUTPUTS = ("loss", "accuracy", "lr", "batch_size")


def _positive_finite(ctx, check, y, what):
    positive = getattr(ctx.law, "output", "loss") in POSITIVE_OUTPUTS
    bad = ~(np.isfinite(y) & (y > 0)) if positive else ~np.isfinite(y)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        ctx.fail(check, f"{what}: {int(bad.sum())} of {y.size} predictions are not finite"
                        f"{' and positive' if positive else ''} (e.g. {float(y.flat[i])!r})",
                 count=int(bad.sum()), value=float(y.flat[i]))


def _domain(ctx: _Context) -> dict:
    law, c = ctx.law, "domain"
    theta = ctx.theta(c)
    for n, seed in ((40, "example"), (500, "domain")):
        X = ctx.inputs(c, n, seed)
        y = np.asarray(law.predict(X, theta))
        if y.shape != (len(next(iter(X.values()))),):
            ctx.fail(c, f"prediction has shape {y.shape} for {len(next(iter(X.values())))} "
                        "points", shape=y.shape)
        _positive_finite(ctx, c, y, "at the example parameters over the example inputs")
    batch = np.stack([theta, theta * 1.01, theta * 0.99])
    _positive_finite(ctx, c, np.asarray(law.predict(X, batch)), "at parameters 1% off the example")
    return {"points": 540, "min": float(y.min()), "max": float(y.max())}


def _broadcasting(ctx: _Context) -> dict:
    law, c = ctx.law, "broadcasting"
    theta = ctx.theta(c)
    X = ctx.inputs(c, 40, "example")
    n = len(next(iter(X.values())))
    P = len(theta)
    y = law.predict(X, theta)
    if y.shape != (n,):
        ctx.fail(c, f"one parameter vector gives shape {y.shape}, expected ({n},)")
    batch = np.stack([theta, theta * 1.01, theta * 0.99])
    yb = law.predict(X, batch)
    if yb.shape != (3, n):
        ctx.fail(c, f"a batch of 3 parameter vectors gives shape {yb.shape}, expected (3, {n})")
    for i in range(3):
        _close(ctx, c, yb[i], law.predict(X, batch[i]), 1e-12,
               f"row {i} of a batched prediction against the same vector alone")
    _close(ctx, c, yb[0], y, 1e-12, "batched prediction against a single one")
    J = law.jacobian(X, theta)
    if J.shape != (n, P):
        ctx.fail(c, f"Jacobian has shape {J.shape}, expected ({n}, {P})")
    Jb = law.jacobian(X, batch)
    if Jb.shape != (3, n, P):
        ctx.fail(c, f"batched Jacobian has shape {Jb.shape}, expected (3, {n}, {P})")
    _close(ctx, c, Jb[0], J, 1e-10, "batched Jacobian against a single one", atol=1e-300)
    _close(ctx, c, law.predict(X, ctx.truth(c)), y, 1e-12,
           "parameters by name against the same array")
    # an input given as a scalar is a constant column (alone, it is one point)
    for k in law.input_names if len(law.input_names) > 1 else ():
        Xs = {**X, k: X[k][0]}
        Xf = {**X, k: np.full(n, X[k][0])}
        _close(ctx, c, law.predict(Xs, theta), law.predict(Xf, theta), 1e-12,
               f"input {k!r} as a scalar against a constant column")
    return {"points": n, "batch": 3}


def _close(ctx, check, got, want, rtol, what, atol=0.0):
    got, want = np.asarray(got, float), np.asarray(want, float)
    if got.shape != want.shape:
        ctx.fail(check, f"{what}: shapes {got.shape} and {want.shape} differ")
    with np.errstate(all="ignore"):
        err = np.abs(got - want)
        lim = atol + rtol * np.abs(want)
    bad = ~(err <= lim)
    if bad.any():
        i = int(np.argmax(np.where(bad, err / np.maximum(np.abs(want), 1e-300), -1)))
        ctx.fail(check, f"{what}: {float(got.flat[i])!r} against {float(want.flat[i])!r} (relative "
                        f"difference {err.flat[i] / max(abs(want.flat[i]), 1e-300):.3g}, "
                        f"allowed {rtol:g})", got=float(got.flat[i]), expected=float(want.flat[i]))


def _jacobian(ctx: _Context) -> dict:
    law, c = ctx.law, "jacobian"
    theta = ctx.theta(c)
    X = ctx.inputs(c, 60, "jacobian")
    J = law.jacobian(X, theta)
    worst = 0.0
    for i, name in enumerate(law.param_names):
        h = 1e-6 * max(abs(theta[i]), 1e-3)
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        fd = (law.predict(X, tp) - law.predict(X, tm)) / (2 * h)
        err = float(np.linalg.norm(J[:, i] - fd) / max(np.linalg.norm(fd), 1e-300))
        if not err < JACOBIAN_RTOL:
            ctx.fail(c, f"d prediction / d {name} differs from central finite differences by "
                        f"{err:.3g} (relative norm; allowed {JACOBIAN_RTOL:g})",
                     param=name, error=err)
        worst = max(worst, err)
    analytic = type(law)._jacobian is not Law._jacobian
    return {"max_rel_error": worst, "analytic": analytic}


def _linear_basis(ctx: _Context) -> dict:
    law, c = ctx.law, "linear_basis"
    lin = np.array([p.linear for p in law.params])
    if not lin.any():
        return {"skipped": "no linear parameters"}
    theta = ctx.theta(c)
    X = ctx.inputs(c, 30, "basis")
    n = len(next(iter(X.values())))
    batch = np.stack([theta, theta * 1.02])
    basis = law.linear_basis(X, batch[:, ~lin])
    if basis is None or np.shape(basis) != (2, n, int(lin.sum())):
        ctx.fail(c, f"linear_basis gives shape {np.shape(basis)}, expected (2, {n}, "
                    f"{int(lin.sum())})")
    _close(ctx, c, np.einsum("snk,sk->sn", basis, batch[:, lin]), law.predict(X, batch), 1e-10,
           "basis @ linear parameters against the prediction")
    return {"linear": int(lin.sum())}


def _derived(ctx: _Context) -> dict:
    law, c = ctx.law, "derived"
    truth = ctx.truth(c)
    d = law.derived(truth)
    for k, v in d.items():
        if not np.all(np.isfinite(np.asarray(v, float))):
            ctx.fail(c, f"derived quantity {k!r} is {v!r} at the example parameters",
                     name=k, value=v)
    out = {"derived": sorted(d)}
    if {"N", "D"} <= set(law.input_names):
        X = ctx.inputs(c, 5, "example")
        C = 6.0 * X["N"] * X["D"]
        o = law.optimal(truth, C)
        if o is not None:
            for k, v in o.items():
                v = np.asarray(v, float)
                if v.shape != C.shape or not np.all(np.isfinite(v)) or (
                        k in ("N", "D") and np.any(v <= 0)):
                    ctx.fail(c, f"compute-optimal {k!r} is {v!r} at C = {C!r} (finite, "
                                f"positive, one per budget expected)", name=k)
            out["optimal"] = sorted(o)
    return out


def _round_trip(ctx: _Context) -> dict:
    law, c = ctx.law, "round_trip"
    desc = law.describe()
    try:
        back = json.loads(json.dumps(desc))
    except (TypeError, ValueError) as exc:
        ctx.fail(c, f"describe() is not JSON: {exc}")
    if [p["name"] for p in back["params"]] != law.param_names:
        ctx.fail(c, "describe() lists other parameters than the law")
    try:
        spec = law.spec
    except ValueError as exc:
        ctx.fail(c, str(exc))
    registered = law_kinds()
    if law.name not in registered:
        return {"spec": spec, "registered": False}
    again = get_law(json.loads(json.dumps({"law": spec}))["law"])
    if type(again) is not type(law):
        ctx.fail(c, f"get_law({spec!r}) builds a {type(again).__name__}, not a "
                    f"{type(law).__name__}: the name is taken by another law",
                 hint="give the law a name of its own")
    if again.param_names != law.param_names:
        ctx.fail(c, f"get_law({spec!r}) has parameters {again.param_names}, the law "
                    f"{law.param_names}")
    theta = ctx.theta(c)
    if _is_curve(law):
        for curve in _curves(law, CURVE_TRAIN[:1]):
            _close(ctx, c, again.predict(curve, theta), law.predict(curve, theta), 1e-12,
                   f"get_law({spec!r}) against the law")
    else:
        X = ctx.inputs(c, 40, "example")
        if [i.name for i in again.inputs] != law.input_names:
            ctx.fail(c, f"get_law({spec!r}) has inputs {again.input_names}, the law "
                        f"{law.input_names}")
        _close(ctx, c, again.predict(X, theta), law.predict(X, theta), 1e-12,
               f"get_law({spec!r}) against the law")
    return {"spec": spec, "registered": True}


def _recovery(ctx: _Context) -> dict:
    from scalefit.fitting.core import fit_dataset
    from scalefit.fitting.dataset import Dataset
    from scalefit.fitting.objective import make_objective

    law, c = ctx.law, "recovery"
    theta = ctx.theta(c)
    n = ctx.n_points
    X = ctx.inputs(c, n, "fit_inputs")
    n = len(next(iter(X.values())))
    rng = np.random.default_rng(ctx.seeds["noise"])
    y = law.predict(X, theta) * np.exp(NOISE * rng.standard_normal(n))
    ds = Dataset(X=X, y=y, groups=np.arange(n), runs=[f"synthetic{i}" for i in range(n)],
                 metric="loss")
    est = fit_dataset(ds, law, objective=make_objective("mse"))["theta"]
    ly = np.log(y)
    sse = float(np.sum((np.log(law.predict(X, est)) - ly) ** 2))
    sse_true = float(np.sum((np.log(law.predict(X, theta)) - ly) ** 2))
    # the fit is at least as good as the truth, and its residuals look like the noise
    if not sse <= sse_true * (1 + 1e-6):
        ctx.fail(c, f"the fit stops at a sum of squared log residuals {sse:.6g}, above the "
                    f"truth's {sse_true:.6g}: the optimiser misses the minimum",
                 fit=sse, truth=sse_true)
    rms = float(np.sqrt(sse / n))
    if not rms < RMS_FACTOR * NOISE:
        ctx.fail(c, f"residuals {rms:.4g} (rms, log) against noise {NOISE:g}",
                 rms=rms, limit=RMS_FACTOR * NOISE)
    # the fitted curve stays within the noise of the true one over the whole domain
    Xd = ctx.inputs(c, 500, "domain")
    dev = float(np.max(np.abs(np.log(law.predict(Xd, est)) - np.log(law.predict(Xd, theta)))))
    if not dev < MAX_CURVE_DEV:
        ctx.fail(c, f"the fitted law leaves the true one by {dev:.4g} (log) on the domain; "
                    f"allowed {MAX_CURVE_DEV:g}", deviation=dev)
    worst = 0.0
    for name, t, e in zip(law.param_names, theta, est, strict=True):
        lim = ctx.tol.get(name, ctx.tol.get("*"))
        rel = abs(e - t) / max(abs(t), 1e-2)
        if lim is not None:
            if not rel < lim:
                ctx.fail(c, f"{name} comes back as {e:.6g} for a true {t:.6g} (relative error "
                            f"{rel:.3g}, allowed {lim:g})", param=name, true=t, fitted=e,
                         rel_error=rel, limit=lim)
            worst = max(worst, rel)
    return {"points": n, "rms": rms, "max_curve_dev": dev, "max_rel_error": float(worst),
            "params": dict(zip(law.param_names, map(float, est), strict=True))}


_LAW_CHECK_FUNCS = {"declaration": _declaration, "domain": _domain,
                    "broadcasting": _broadcasting, "jacobian": _jacobian,
                    "linear_basis": _linear_basis, "derived": _derived,
                    "round_trip": _round_trip, "recovery": _recovery}


# ---------------------------------------------------------------------------- curve laws
def _is_curve(law) -> bool:
    return not isinstance(law, Law)


def _sizes(law) -> tuple:
    return CURVE_SIZES if getattr(law, "name", "").startswith("joint_") else (None,)


def _curve(spec: str, N: float | None = None, loss=None, every: int = 50):
    from scalefit.curves.data import Curve
    from scalefit.schedules import parse_schedule

    sch = parse_schedule(spec)
    steps = np.arange(550, CURVE_STEPS, every)
    return Curve(spec.split(":")[0], sch.lr(np.arange(sch.total_steps)), steps, loss, N, sch)


def _curves(law, specs, every: int = 50) -> list:
    return [_curve(s, N, every=every) for N in _sizes(law) for s in specs]


def _curve_declaration(ctx: _Context) -> dict:
    law, c = ctx.law, "declaration"
    names = _name_and_parameters(ctx, c)
    for label in ("formula", "source"):
        if not isinstance(getattr(law, label), str) or not getattr(law, label).strip():
            ctx.fail(c, f"the law has no {label} string")
    if law.kind not in KINDS:
        ctx.fail(c, f"kind {law.kind!r} is not one of {KINDS}")
    if law.default_method not in ("paper", "lbfgs"):
        ctx.fail(c, f"default_method {law.default_method!r} is not 'paper' or 'lbfgs'")
    bounds = {p.name: (p.lower, p.upper) for p in law.params}
    for p in law.params:
        if not p.lower < p.upper:
            ctx.fail(c, f"parameter {p.name!r}: lower bound {p.lower} is not below upper "
                        f"{p.upper}")
        if p.log and p.lower < 0.0:
            ctx.fail(c, f"parameter {p.name!r} is fitted in log space but its lower bound "
                        f"{p.lower} is negative")
    for label in ("linear", "exponents"):
        stray = [n for n in getattr(law, label) if n not in bounds]
        if stray:
            ctx.fail(c, f"{label} names {stray}, which are not parameters")
    truth = ctx.truth(c)
    if list(truth) != names:
        ctx.fail(c, f"example parameters {list(truth)} are not in the law's order {names}")
    for k, v in truth.items():
        lo, hi = bounds[k]
        if not lo < v < hi:
            ctx.fail(c, f"example {k}={v} is not strictly inside its bounds [{lo}, {hi}]")
    starts: list = []
    if type(law).start_grid is not _curve_base().start_grid:
        starts = list(law.start_grid())
    for what, values in [("paper default", law.paper_defaults)] + [
            ("start", s) for s in starts]:
        for k, v in values.items():
            if k not in bounds:
                ctx.fail(c, f"{what} {k}={v} names no parameter")
            if not bounds[k][0] <= v <= bounds[k][1]:
                ctx.fail(c, f"{what} {k}={v} is outside its bounds {list(bounds[k])}")
    return {"params": len(names), "starts": len(starts), "linear": list(law.linear)}


def _curve_base():
    from scalefit.laws.curve import CurveLaw

    return CurveLaw


def _curve_domain(ctx: _Context) -> dict:
    law, c = ctx.law, "domain"
    truth = ctx.truth(c)
    lo = np.inf
    for N in _sizes(law):
        for spec in CURVE_TRAIN + (CURVE_HELD_OUT,):
            curve = _curve(spec, N)
            pred = np.asarray(law.predict(curve, truth))
            if pred.shape != curve.steps.shape:
                ctx.fail(c, f"prediction has shape {pred.shape} for {curve.steps.size} logged "
                            f"steps ({spec})")
            _positive_finite(ctx, c, pred, f"on {spec} (N={N})")
            lo = min(lo, float(pred.min()))
        pred = law.predict(_curve(CURVE_TRAIN[0], N), truth)
        rise = np.flatnonzero(np.diff(pred) >= 0)
        if rise.size:  # a decaying cosine: the loss falls at every log
            ctx.fail(c, f"on a decaying cosine schedule the loss rises at {rise.size} logs "
                        f"(first after step {int(_curve(CURVE_TRAIN[0], N).steps[rise[0]])})",
                     count=int(rise.size))
    return {"min": lo}


def _curve_broadcasting(ctx: _Context) -> dict:
    law, c = ctx.law, "broadcasting"
    truth = ctx.truth(c)
    th = law.theta(truth)
    for curve in _curves(law, CURVE_TRAIN[2:]):
        full = law.predict(curve, th)
        _close(ctx, c, law.predict(curve, truth), full, 1e-12,
               "parameters by name against the same array")
        _close(ctx, c, law.predict(curve, th, curve.steps[::3]), full[::3], 1e-12,
               "prediction at a subset of the steps against the same steps of the whole")
    return {"curves": len(_sizes(law))}


def _curve_jacobian(ctx: _Context) -> dict:
    law, c = ctx.law, "jacobian"
    th = law.theta(ctx.truth(c))
    worst = 0.0
    for N in _sizes(law)[:2]:
        curve = _curve(CURVE_TRAIN[2], N, every=250)
        pred, J = law.grad(curve, th)
        _close(ctx, c, pred, law.predict(curve, th), 1e-10, "grad's prediction against predict")
        if J.shape != (curve.steps.size, th.size):
            ctx.fail(c, f"grad gives shape {J.shape}, expected ({curve.steps.size}, {th.size})")
        atol = 1e-9 * np.abs(pred).max()
        for i, p in enumerate(law.params):
            h = 1e-6 * max(abs(th[i]), 1e-3)
            up, dn = th.copy(), th.copy()
            up[i] += h
            dn[i] -= h
            fd = (law.predict(curve, up) - law.predict(curve, dn)) / (2 * h)
            _close(ctx, c, J[:, i], fd, 2e-4, f"d prediction / d {p.name} (N={N}) against "
                                              "central finite differences", atol=atol)
            worst = max(worst, float(np.max(np.abs(J[:, i] - fd) / (np.abs(fd) + atol))))
    return {"max_rel_error": worst}


def _curve_linear_basis(ctx: _Context) -> dict:
    from scalefit.laws.curve_kernels import H_ACCURATE

    law, c = ctx.law, "linear_basis"
    if not law.linear:
        return {"skipped": "no linear parameters"}
    truth = ctx.truth(c)
    nl = {k: v for k, v in truth.items() if k not in law.linear}
    for curve in _curves(law, CURVE_TRAIN):
        design = law.linear_design(curve, nl, h=H_ACCURATE)
        if design.shape != (curve.steps.size, len(law.linear)):
            ctx.fail(c, f"linear_design gives shape {design.shape}, expected "
                        f"({curve.steps.size}, {len(law.linear)})")
        _close(ctx, c, design @ np.array([truth[k] for k in law.linear]),
               law.predict(curve, truth), 1e-10, "design @ linear parameters against predict")
    return {"linear": list(law.linear)}


def _noisy_training_curves(ctx: _Context) -> list:
    law, truth = ctx.law, ctx.truth("recovery")
    rng = np.random.default_rng(ctx.seeds["curve_noise"])
    curves = []
    for N in _sizes(law):
        for spec in CURVE_TRAIN:
            y = law.predict(_curve(spec, N), truth)
            curves.append(_curve(spec, N, y * np.exp(rng.normal(0, CURVE_NOISE, y.size))))
    return curves


def _worst_unseen_error(ctx: _Context, res) -> float:
    from scalefit.curves.result import CurveFitResult

    law, truth = ctx.law, ctx.truth("recovery")
    back = CurveFitResult.from_json(res.to_json())
    worst = 0.0
    for N in _sizes(law):
        test = _curve(CURVE_HELD_OUT, N)
        truth_loss = law.predict(test, truth)
        got = back.predict(test)["loss_pred"].to_numpy()
        direct = res.predict(test)["loss_pred"].to_numpy()
        _close(ctx, "recovery", got, direct, 1e-12, "the fit read back from its JSON against "
                                                    "the fit")
        worst = max(worst, float(np.max(np.abs(got - truth_loss) / truth_loss)))
    return worst


def _curve_recovery(ctx: _Context, method: str | None = "lbfgs",
                    check: str = "recovery") -> dict:
    from scalefit.fitting.curves import fit_curves

    law = ctx.law
    if method is None and law.default_method == "lbfgs":
        return {"skipped": "the default method is L-BFGS-B (checked by recovery)"}
    res = fit_curves(_noisy_training_curves(ctx), law, method=method)
    worst = _worst_unseen_error(ctx, res)
    key = "unseen" if method else "unseen_default"
    lim = ctx.tol.get(key)
    if lim is not None and not worst < lim:
        ctx.fail(check, f"the fit predicts the unseen schedule {CURVE_HELD_OUT} with a "
                        f"relative error up to {worst:.3g}; allowed {lim:g}", error=worst,
                 limit=lim)
    out = {"unseen_max_rel_error": worst}
    if method:
        errs = {k: e["mean_rel"] for k, e in res.diagnostics["fit_errors"].items()}
        lim = ctx.tol.get("fit")
        bad = {k: v for k, v in errs.items() if lim is not None and not v < lim}
        if bad:
            ctx.fail(check, f"mean relative fit error {bad} on the training curves; allowed "
                            f"{lim:g} (noise {CURVE_NOISE:g})", errors=bad, limit=lim)
        truth = ctx.truth(check)
        worst_p = 0.0
        for name, t in truth.items():
            plim = ctx.tol.get(name, ctx.tol.get("*"))
            if plim is None:
                continue
            e = float(res.params[name])
            rel = abs(e - t) / max(abs(t), 1e-2)
            if not rel < plim:
                ctx.fail(check, f"{name} comes back as {e:.6g} for a true {t:.6g} (relative "
                                f"error {rel:.3g}, allowed {plim:g})", param=name, true=t,
                         fitted=e, rel_error=rel, limit=plim)
            worst_p = max(worst_p, rel)
        out.update(max_fit_error=max(errs.values()), max_rel_error=worst_p)
    return out


_CURVE_CHECK_FUNCS = {"declaration": _curve_declaration, "domain": _curve_domain,
                      "broadcasting": _curve_broadcasting, "jacobian": _curve_jacobian,
                      "linear_basis": _curve_linear_basis, "round_trip": _round_trip,
                      "recovery": _curve_recovery,
                      "recovery_default": lambda ctx: _curve_recovery(ctx, None,
                                                                       "recovery_default")}
