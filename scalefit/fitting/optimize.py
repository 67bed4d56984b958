"""Multi-start optimisation of a law's objective.

The recipe: evaluate every start (the law's grid, plus variable-projection seeds for laws with
linear amplitudes) as one vectorised batch, keep the best few distinct ones, refine each with
scipy's L-BFGS-B and analytic gradients in the internal (log) space, keep the best. The spread of
the refined objectives is recorded: starts that end far apart flag a multi-modal fit.

Parameters travel as :class:`Parameters`, lmfit's ``Parameters`` interface (``add``, ``set``,
``value``, ``min``, ``max``, ``vary``, ``expr``; an :class:`lmfit.Parameters` is accepted too),
which carry bounds, fixed values (``vary=False``) and expressions (``expr="alpha"``). Expressions are evaluated in natural units with numpy, over a
batch of candidates at once.

:func:`batched_lbfgs` refines many problems that share the data but differ in point weights (the
bootstrap) in one vectorised L-BFGS, instead of one scipy call per resample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from scalefit.errors import FitError, UsageError
from scalefit.fitting.expressions import compile_expression
from scalefit.fitting.objective import CHUNK_ELEMS, Objective, evaluate

__all__ = ["Problem", "OptimResult", "Parameter", "Parameters", "blas_threads", "make_parameters",
           "multistart", "batched_lbfgs", "vp_seeds"]


@contextmanager
def blas_threads(n: int = 1):
    """Limit BLAS threads: a fit is many small operations, where BLAS threads only contend
    (scipy's L-BFGS-B runs many times slower with idle-spinning threads on a busy machine)."""
    # scipy's own BLAS loads with scipy.linalg: load it first, or a limit set before scipy's
    # first import (scipy.optimize is imported on first use) misses it, and its idle threads
    # spin through every L-BFGS-B step
    import scipy.linalg  # noqa: F401

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


# ---------------------------------------------------------------------- parameters
class Parameter:
    """One parameter: ``value`` (kept inside ``[min, max]``), ``vary``, ``expr``; the semantics
    of :class:`lmfit.Parameter` that a fit uses. lmfit itself is not imported for a fit: it
    brings matplotlib and scipy.stats with it, more CPU time than a command-line fit."""

    __slots__ = ("name", "min", "max", "_val", "_vary", "_expr", "stderr")

    def __init__(self, name: str, value: float | None = None, vary: bool = True,
                 min: float = -math.inf, max: float = math.inf, expr: str | None = None):
        self.name = name
        lo = -math.inf if min is None else min
        hi = math.inf if max is None else max
        if lo > hi:
            lo, hi = hi, lo
        self.min, self.max = lo, hi
        self._vary = bool(vary)
        self._expr = None
        self.stderr = None
        self.value = -math.inf if value is None else value
        if expr:
            self.expr = expr

    @property
    def value(self) -> float:
        """Current value in natural units, kept inside ``[min, max]``."""
        return self._val

    @value.setter
    def value(self, val: float) -> None:
        """Set the value, clipped to ``[min, max]``."""
        if val > self.max:
            val = self.max
        elif val < self.min:
            val = self.min
        self._val = val

    @property
    def vary(self) -> bool:
        """Whether the fit varies the parameter (False when fixed or given by an expression)."""
        return self._vary

    @vary.setter
    def vary(self, val: bool) -> None:
        """Set whether the fit varies the parameter."""
        self._vary = bool(val)

    @property
    def expr(self) -> str | None:
        """Expression in the other parameters' names that gives this one, or None."""
        return self._expr

    @expr.setter
    def expr(self, val: str | None) -> None:
        """Set the expression (empty or None removes it); an expression makes ``vary`` False."""
        self._expr = val or None
        if self._expr is not None:
            self._vary = False

    def set(self, value: float | None = None, vary: bool | None = None, min: float | None = None,
            max: float | None = None, expr: str | None = None) -> None:
        """Change what is given, as :meth:`lmfit.Parameter.set` does: ``vary=True`` or a value
        clears an expression, ``expr=""`` removes one."""
        if vary is not None:
            self._vary = bool(vary)
            if vary:
                self._expr = None
        if min is not None:
            self.min = min
        if max is not None:
            self.max = max
        if value is not None:
            self.value = value
            self._expr = None
        if expr is not None:
            self.expr = expr

    def __repr__(self) -> str:
        what = f"expr={self._expr!r}" if self._expr else ("vary" if self._vary else "fixed")
        return f"<Parameter {self.name!r} value={self._val!r} [{self.min}, {self.max}] {what}>"


class Parameters(dict):
    """Name -> :class:`Parameter`, in the law's order (lmfit's ``Parameters`` interface)."""

    def add(self, name: str, value: float | None = None, vary: bool = True,
            min: float = -math.inf, max: float = math.inf, expr: str | None = None) -> None:
        """Add (or replace) the parameter ``name``, as :meth:`lmfit.Parameters.add` does."""
        self[name] = Parameter(name, value=value, vary=vary, min=min, max=max, expr=expr)

    def valuesdict(self) -> dict[str, float]:
        """Name -> current value."""
        return {k: p.value for k, p in self.items()}


def make_parameters(law, *, fix: Mapping[str, float] | None = None,
                    bounds: Mapping[str, tuple[float, float]] | None = None,
                    expr: Mapping[str, str] | None = None,
                    params: Mapping | None = None) -> Parameters:
    """:class:`Parameters` for ``law``: its bounds, then user ``bounds``, ``fix`` and ``expr``.

    ``params`` (:class:`Parameters` or :class:`lmfit.Parameters`) overrides all of it for the
    names it has.
    """
    names = law.param_names
    out = Parameters()
    for p in law.params:
        out.add(p.name, value=_default_value(p), min=p.lower, max=p.upper)
    for label, given in (("fix", fix), ("bounds", bounds), ("expr", expr)):
        for k in (given or {}):
            if k not in names:
                raise UsageError(f"law {law.name!r} has no parameter {k!r}; it has {names}",
                                 where=label)
    for k, (lo, hi) in (bounds or {}).items():
        out[k].set(min=-np.inf if lo is None else float(lo), max=np.inf if hi is None else float(hi))
    for k, v in (fix or {}).items():
        v = float(v)
        p = law.param(k)
        if not (p.lower <= v <= p.upper) or (p.log and v <= 0):
            raise UsageError(f"fixed value {k}={v} is outside the bounds [{p.lower}, {p.upper}]",
                             where="fix")
        out[k].set(value=v, vary=False)
    # every expression is checked by our own evaluator before anything else sees it
    for k, e in (expr or {}).items():
        compile_expression(e, names, param=k)
        out[k].set(expr=e)
    if params is not None:
        for k, p in params.items():
            if k not in names:
                raise UsageError(f"law {law.name!r} has no parameter {k!r}", where="params")
            if p.expr:
                compile_expression(p.expr, names, param=k)
            out[k].set(value=p.value, min=p.min, max=p.max, vary=p.vary, expr=p.expr)
    return out


def _default_value(p) -> float:
    lo, hi = p.internal_bounds
    if p.grid:
        u = float(np.median(p.grid))
    elif np.isfinite(lo) and np.isfinite(hi):
        u = 0.5 * (lo + hi)
    elif np.isfinite(lo):
        u = lo + 1.0
    else:
        u = 0.0
    return float(p.to_natural(u))


# ---------------------------------------------------------------------- problem
#: a prior's width costs as much as a residual of this size at every point (see Param)
PRIOR_REF = 0.01


class Problem:
    """A law, its data and its parameters, seen by the optimiser as a function of the free
    parameters ``v`` (internal space). ``value_grad(V)`` works on a batch (S, F)."""

    def __init__(self, law, X: dict, y: np.ndarray, objective: Objective,
                 parameters: Parameters, weights: np.ndarray | None = None):
        self.law, self.X, self.y, self.objective = law, X, np.asarray(y, float), objective
        self.parameters = parameters
        self.weights = weights
        self.names = law.param_names
        self.P = len(self.names)
        self.logmask = np.array([p.log for p in law.params])
        self.free = [i for i, n in enumerate(self.names)
                     if parameters[n].vary and not parameters[n].expr]
        self.fixed = [i for i, n in enumerate(self.names)
                      if not parameters[n].vary and not parameters[n].expr]
        self.exprs = [(i, parameters[n].expr) for i, n in enumerate(self.names)
                      if parameters[n].expr]
        self._code = [(i, compile_expression(e, self.names, param=self.names[i]))
                      for i, e in self.exprs]
        self.base = np.array([law.params[i].to_internal(parameters[n].value)
                              for i, n in enumerate(self.names)], dtype=float)
        self.F = len(self.free)
        if self.F == 0:
            raise FitError("every parameter is fixed; nothing to fit", where="fix")
        lo, hi = [], []
        for i in self.free:
            p, lp = law.params[i], parameters[self.names[i]]
            if p.log:
                lo.append(math.log(lp.min) if lp.min > 0 else -np.inf)
                hi.append(math.log(lp.max) if np.isfinite(lp.max) and lp.max > 0 else np.inf)
            else:
                lo.append(lp.min)
                hi.append(lp.max)
        self.lower, self.upper = np.array(lo, float), np.array(hi, float)
        # penalties the law declares (Param.prior) on its free parameters: the columns of V
        # they act on, centres, widths, whether V holds their log; each costs n·rho(1%) per
        # width squared (see Param)
        with_prior = [(j, law.params[i]) for j, i in enumerate(self.free)
                      if law.params[i].prior is not None]
        self.priors = [j for j, _ in with_prior]
        self._prior_mu = np.array([p.prior[0] for _, p in with_prior], float)
        self._prior_width = np.array([p.prior[1] for _, p in with_prior], float)
        self._prior_log = np.array([p.log for _, p in with_prior], bool)
        self._rho_ref = float(objective.rho(np.array([PRIOR_REF]))[0][0])

    def _prior_terms(self, V: np.ndarray, w):
        """Standardised distances from the priors' centres ``z`` (..., K), their derivatives in
        ``V``'s prior columns (..., K), and the scale ``n·rho(1%)`` (``n`` the points' total
        weight, per row of a weight batch)."""
        x = np.asarray(V, float)[..., self.priors]
        nat = np.where(self._prior_log, np.exp(x), x)
        dnat = np.where(self._prior_log, nat, 1.0)
        n = self.y.size if w is None else np.asarray(w, float).sum(-1)
        return ((nat - self._prior_mu) / self._prior_width, dnat / self._prior_width,
                n * self._rho_ref)

    def subset(self, idx: np.ndarray) -> Problem:
        """The same problem on a subset of the points."""
        X = {k: np.asarray(v)[idx] for k, v in self.X.items()}
        w = None if self.weights is None else np.asarray(self.weights)[..., idx]
        return Problem(self.law, X, self.y[idx], self.objective, self.parameters, w)

    # free (internal) <-> full (internal)
    def full(self, V: np.ndarray) -> np.ndarray:
        """All parameters (..., P) in internal space from the free ones ``V`` (..., F): fixed
        values filled in, expressions evaluated."""
        V = np.asarray(V, float)
        U = np.broadcast_to(self.base, V.shape[:-1] + (self.P,)).copy()
        U[..., self.free] = V
        if self.exprs:
            U = self._apply_exprs(U)
        return U

    def free_of(self, U: np.ndarray) -> np.ndarray:
        """The free parameters (..., F) of a full internal vector or batch ``U`` (..., P)."""
        return np.asarray(U, float)[..., self.free]

    def _apply_exprs(self, U: np.ndarray) -> np.ndarray:
        nat = self.law.to_natural(U)
        for _ in range(len(self._code)):  # expressions may refer to each other
            ns = {n: nat[..., i] for i, n in enumerate(self.names)}
            for i, fn in self._code:
                nat[..., i] = np.broadcast_to(fn(ns), nat.shape[:-1])
        U = U.copy()
        for i, _ in self._code:
            U[..., i] = self.law.params[i].to_internal(nat[..., i])
        return U

    def value_grad(self, V: np.ndarray, *, weights: np.ndarray | None = None, grad: bool = True):
        """Objective at free internal parameters ``V`` ((F,) or a batch (S, F)) and, with
        ``grad``, its gradient in ``V`` (the chain rule through expressions by finite differences).

        ``weights`` replaces the problem's point weights for this call. Returns ``f`` or ``(f, g)``.
        """
        w = self.weights if weights is None else weights
        U = self.full(V)
        if self.priors:
            z, dz, scale = self._prior_terms(V, w)
            pen = scale * np.sum(z * z, -1)
        if not grad:
            f = evaluate(self.law, self.X, self.y, U, self.objective, weights=w, grad=False,
                         logmask=self.logmask)
            return f + pen if self.priors else f
        f, gU = evaluate(self.law, self.X, self.y, U, self.objective, weights=w,
                         logmask=self.logmask)
        g = gU[..., self.free]
        if self.priors:
            f = f + pen
            g = np.array(g, float, copy=True)
            g[..., self.priors] += 2.0 * np.asarray(scale)[..., None] * z * dz
        if self.exprs:  # chain rule through the expressions, by finite differences
            for j in range(self.F):
                h = 1e-7 * np.maximum(1.0, np.abs(np.asarray(V)[..., j]))
                Vp = np.array(V, float, copy=True)
                Vp[..., j] += h
                dU = (self.full(Vp) - U) / np.asarray(h)[..., None]
                for i, _ in self.exprs:
                    g[..., j] = g[..., j] + gU[..., i] * dU[..., i]
        return f, g

    def dfull_dfree(self, v: np.ndarray) -> np.ndarray:
        """d(full internal)/d(free internal) at ``v``, (P, F): a selection, plus the
        expressions by forward differences."""
        D = np.zeros((self.P, self.F))
        D[self.free, np.arange(self.F)] = 1.0
        if self.exprs:
            v = np.asarray(v, float)
            U0 = self.full(v)
            for j in range(self.F):
                h = 1e-7 * max(1.0, abs(v[j]))
                vp = v.copy()
                vp[j] += h
                col = (self.full(vp) - U0) / h
                for i, _ in self.exprs:
                    D[i, j] = col[i]
        return D

    def residuals(self, v: np.ndarray, jac: bool = True):
        """Residuals of the least-squares form of the objective, (n,), ``pred - y`` in its
        space times sqrt(weights), and with ``jac`` their Jacobian in the free internal
        parameters (n, F). Only for objectives whose kind is ``"mse"`` and 1-D weights."""
        v = np.asarray(v, float)
        u = self.full(v)
        theta = self.law.to_natural(u)
        with np.errstate(all="ignore"):
            pred = self.law._predict(self.X, theta)
            log = self.objective.space == "log"
            r = np.log(pred) - np.log(self.y) if log else pred - self.y
            sw = None if self.weights is None else np.sqrt(np.asarray(self.weights, float))
            if sw is not None:
                r = r * sw
            if self.priors:  # the penalties as residuals: 1/2 s² each, as the data's
                z, dz, scale = self._prior_terms(v, self.weights)
                root = np.sqrt(2.0 * scale)
                r = np.concatenate([r, root * z])
            if not jac:
                return r
            J = self.law._jacobian(self.X, theta) * np.where(self.logmask, theta, 1.0)
            if log:
                J = J / pred[:, None]
            if sw is not None:
                J = J * sw[:, None]
            J = J @ self.dfull_dfree(v)
            if self.priors:
                Jp = np.zeros((len(self.priors), self.F))
                Jp[np.arange(len(self.priors)), self.priors] = root * dz
                J = np.vstack([J, Jp])
        return r, J

    def clip(self, V: np.ndarray) -> np.ndarray:
        """``V`` clipped to the free parameters' internal bounds."""
        return np.clip(V, self.lower, self.upper)

    def scipy_bounds(self) -> list[tuple[float | None, float | None]]:
        """The free parameters' internal bounds as scipy takes them: ``(lower, upper)`` pairs,
        None where infinite."""
        return [(None if not np.isfinite(a) else float(a), None if not np.isfinite(b) else float(b))
                for a, b in zip(self.lower, self.upper, strict=True)]


# ---------------------------------------------------------------------- starts
def vp_seeds(problem: Problem, n_grid: int = 24) -> np.ndarray | None:
    """Starting points from variable projection, in free internal space (S, F).

    For each candidate of the nonlinear parameters (a grid over their bounds), the linear
    amplitudes are solved exactly by least squares on relative residuals (y - basis·c)/y, a close
    proxy of the log residuals; candidates whose amplitudes come out non-positive are dropped.
    Only used when every linear parameter is free and no expression is involved.
    """
    law = problem.law
    lin = [i for i, p in enumerate(law.params) if p.linear]
    non = [i for i, p in enumerate(law.params) if not p.linear]
    if not lin or problem.exprs or any(i not in problem.free for i in lin):
        return None
    axes = []
    for i in non:
        p = law.params[i]
        if i not in problem.free:
            axes.append(np.array([problem.base[i]]))
            continue
        lo, hi = problem.lower[problem.free.index(i)], problem.upper[problem.free.index(i)]
        g = np.asarray(p.grid, float) if p.grid else np.array([law._default_start(p)])
        a, b = (max(lo, g.min()), min(hi, g.max())) if len(g) > 1 else (g[0], g[0])
        if a == 0.0 and not p.log:
            a = 0.02 * (b - a) if b > a else a  # an exponent of 0 makes the basis degenerate
        axes.append(np.linspace(a, b, n_grid) if b > a else np.array([a]))
    mesh = np.meshgrid(*axes, indexing="ij")
    Unon = np.stack([m.ravel() for m in mesh], -1)  # internal space of the nonlinear params
    nat_non = np.stack([law.params[i].to_natural(Unon[:, k]) for k, i in enumerate(non)], -1)
    y = problem.y
    n = y.shape[0]
    # the normal equations are sums over points: accumulate them over chunks of points, so the
    # (S, n, K) basis never exists whole on a large data set
    step = max(1, CHUNK_ELEMS // max(len(Unon), 1))
    if step < n and not all(isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n
                            for v in problem.X.values()):
        step = n
    G = rhs = None
    for j in range(0, n, step):
        sl = slice(j, min(j + step, n))
        Xc = problem.X if (sl.start == 0 and sl.stop == n) else {
            k: v[sl] for k, v in problem.X.items()}
        try:
            basis = law.linear_basis(Xc, nat_non)  # (S, chunk, K)
        except Exception:  # noqa: BLE001 (a law without a usable basis simply gets no seeds)
            return None
        if basis is None:
            return None
        yc = y[sl]
        with np.errstate(all="ignore"):
            Bw = basis / yc[None, :, None]
            Gc = np.einsum("snk,snl->skl", Bw, Bw)
            rc = np.einsum("snk,n->sk", Bw, np.ones_like(yc))
        del basis, Bw
        G, rhs = (Gc, rc) if G is None else (G + Gc, rhs + rc)
    with np.errstate(all="ignore"):
        G = G + 1e-12 * np.trace(G, axis1=1, axis2=2)[:, None, None] * np.eye(G.shape[-1])
        try:
            c = np.linalg.solve(G, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:  # losses so large or small that G over/underflows
            return None
    ok = np.all(np.isfinite(c), axis=1)
    for k, i in enumerate(lin):
        if law.params[i].log or law.params[i].lower >= 0:
            ok &= c[:, k] > 0
    if not ok.any():
        return None
    U = np.broadcast_to(problem.base, (int(ok.sum()), problem.P)).copy()
    for k, i in enumerate(non):
        U[:, i] = Unon[ok, k]
    for k, i in enumerate(lin):
        U[:, i] = law.params[i].to_internal(c[ok, k])
    return problem.clip(problem.free_of(U))


def start_points(problem: Problem, starts: np.ndarray | None = None, vp: bool = True,
                 seed_on: Problem | None = None) -> np.ndarray:
    """All starts in free internal space: the law's grid (or ``starts``) and VP seeds (solved
    on ``seed_on``, a subset of the points, when given)."""
    if starts is None:
        grid = problem.law.start_grid()
        # a fixed parameter collapses its grid axis
        V = np.unique(problem.free_of(grid), axis=0)
    else:
        V = np.atleast_2d(np.asarray(starts, float))
        if V.shape[-1] == problem.P:
            V = problem.free_of(V)
        elif V.shape[-1] != problem.F:
            raise UsageError(f"starts have {V.shape[-1]} columns; expected {problem.P} "
                             f"(all parameters) or {problem.F} (free ones)", where="starts")
    V = problem.clip(V)
    if vp:
        seeds = vp_seeds(problem if seed_on is None else seed_on)
        if seeds is not None:
            V = np.concatenate([V, seeds])
    return V


# ---------------------------------------------------------------------- multi-start
@dataclass
class OptimResult:
    """Outcome of a multi-start optimisation (free and full parameters in internal space)."""

    v: np.ndarray
    u: np.ndarray
    fun: float
    n_starts: int
    refined: np.ndarray  # objectives reached by the refined starts, the kept one first
    converged: bool
    message: str
    nfev: int = 0
    all_fun: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def spread(self) -> dict:
        """How far apart the refined starts ended: their count, best and worst objective, the
        worst's relative gap to the best, and how many lie within 1e-6 of it."""
        r = self.refined[np.isfinite(self.refined)]
        if r.size == 0:
            return {"n_refined": 0}
        best = r[0]
        rel = (r - best) / max(abs(best), 1e-300)
        return {"n_refined": int(r.size), "best": float(best), "worst": float(r[-1]),
                "rel_range": float(rel[-1]), "n_within_1e-6": int(np.sum(rel <= 1e-6))}


def multistart(problem: Problem, *, starts: np.ndarray | None = None, keep: int = 8,
               vp: bool = True, chunk: int = 2048, maxiter: int = 3000,
               max_screen: int = 600) -> OptimResult:
    """Evaluate every start in batches, refine the ``keep`` best distinct ones with L-BFGS-B."""
    with blas_threads(1):
        return _multistart(problem, starts, keep, vp, chunk, maxiter, max_screen)


def _multistart(problem, starts, keep, vp, chunk, maxiter, max_screen) -> OptimResult:
    from scipy.optimize import minimize  # on first use: commands that never fit skip it

    # ranking thousands of starts needs no more than a few hundred points: seed and screen large
    # data sets (every checkpoint of many runs) on an evenly spaced subset, refine on all of it
    n = problem.y.shape[0]
    screen = problem if n <= max_screen else problem.subset(
        np.unique(np.linspace(0, n - 1, max_screen).round().astype(int)))
    V = start_points(problem, starts, vp, seed_on=screen)
    vals = np.concatenate([screen.value_grad(V[i:i + chunk], grad=False)
                           for i in range(0, len(V), chunk)])
    finite = np.isfinite(vals)
    if not finite.any():
        raise FitError("the objective is not finite at any starting point",
                       hint="check the data (positive inputs and losses) or give starts")
    order = np.argsort(np.where(finite, vals, np.inf))
    chosen: list[int] = []
    for i in order:
        if not finite[i] or len(chosen) >= keep:
            break
        # distinct: skip starts that (nearly) coincide with one already chosen
        if all(np.max(np.abs(V[i] - V[j])) > 1e-3 for j in chosen):
            chosen.append(int(i))
    results = []
    nfev = 0
    bounds = problem.scipy_bounds()

    def fun(v):
        f, g = problem.value_grad(v[None])
        return float(f[0]), g[0]

    for i in chosen:
        res = minimize(fun, V[i], jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-12,
                                "maxcor": 20})
        nfev += int(res.nfev)
        results.append(res)
    order_r = _rank_refined(np.array([r.fun for r in results], float))
    results = [results[k] for k in order_r]
    raw = [V[chosen[k]] for k in order_r]
    best = results[0]
    refined = np.array([r.fun for r in results], float)
    v = np.asarray(best.x, float)
    fbest = float(best.fun)
    msg = best.message if isinstance(best.message, str) else str(best.message)
    # ABNORMAL_TERMINATION at 1e-15 ftol is a converged line search on a kinked objective
    conv = bool(best.success) or "ABNORMAL" in msg.upper()
    if _least_squares_form(problem):
        # L-BFGS-B stalls on ill-conditioned least-squares problems (NIST's MGH10, Bennett5):
        # a trust-region Gauss-Newton polish decides, kept only where it lowers the objective
        v, fbest, conv, msg, extra = _polish(problem, v, fbest, results, raw)
        nfev += extra
        refined[0] = min(refined[0], fbest)
        order = np.argsort(refined)
        refined = refined[order]
    return OptimResult(v=v, u=problem.full(v), fun=fbest, n_starts=len(V),
                       refined=refined, converged=conv, message=msg, nfev=nfev, all_fun=vals)


#: refined starts whose objectives are within this relative distance of the best tie
TIE_RTOL = 1e-9


def _rank_refined(f: np.ndarray) -> list[int]:
    """Indices of the refined starts, the one whose optimum is kept first, then by objective.

    Starts whose objectives tie with the best (within ``TIE_RTOL``) are equally good fits; of
    those the first in screening order is kept. Taking the strictly lowest instead lets the
    last bits of the data choose: where the data do not determine a parameter (a flat valley,
    e.g. Chinchilla's N term fitted to two model sizes), starts end at different points of equal
    fit, and which one wins moved a backtest error from 1.0% to 2.6% with relative changes of
    1e-15 in the losses (Gadre et al.'s RedPajama runs)."""
    f = np.where(np.isfinite(f), f, np.inf)
    best = float(np.min(f)) if f.size else np.inf
    if not np.isfinite(best):
        return list(range(f.size))
    first = int(np.argmax(f <= best + TIE_RTOL * max(abs(best), 1e-300)))
    return [first] + sorted((k for k in range(f.size) if k != first), key=lambda k: f[k])


# ---------------------------------------------------------------------- polish and check
#: a Gauss-Newton step from a minimum may lower a least-squares objective by at most this
#: fraction; more means the optimiser stopped short of the minimum
STATIONARY_RTOL = 1e-8


def _least_squares_form(problem: Problem) -> bool:
    w = problem.weights
    return problem.objective.kind == "mse" and (w is None or np.ndim(w) == 1)


def _ls_polish(problem: Problem, v0: np.ndarray) -> tuple[np.ndarray, int] | None:
    lo, hi = problem.lower, problem.upper
    if np.any(lo >= hi):
        return None
    big = 1e150

    def fun(v):
        r = problem.residuals(v, jac=False)
        return np.where(np.isfinite(r), r, big)

    def jac(v):
        J = problem.residuals(v)[1]
        return np.where(np.isfinite(J), J, 0.0)

    x0 = np.clip(np.asarray(v0, float), lo, hi)
    if not np.all(np.isfinite(x0)) or not np.all(np.isfinite(problem.residuals(x0, jac=False))):
        return None
    from scipy.optimize import least_squares

    try:
        with np.errstate(all="ignore"):
            r = least_squares(fun, x0, jac=jac, bounds=(lo, hi), method="trf", xtol=1e-15,
                              ftol=1e-15, gtol=1e-15, max_nfev=200 * (problem.F + 1))
    except (ValueError, np.linalg.LinAlgError):
        return None
    return np.asarray(r.x, float), int(r.nfev)


def _polish(problem: Problem, v, fbest, results, raw):
    """Polish the best L-BFGS-B result by least squares; if the result still is not a
    stationary point, polish from the other refined results and their raw starts too."""
    nfev = 0
    tries = [v] + [np.asarray(r.x, float) for r in results[1:]] + list(raw)
    status = stationarity(problem, v)
    for k, v0 in enumerate(tries):
        if k > 0 and status[0]:
            break
        out = _ls_polish(problem, v0)
        if out is None:
            continue
        vp, n = out
        nfev += n
        fp = float(problem.value_grad(vp[None], grad=False)[0])
        if np.isfinite(fp) and fp < fbest:
            v, fbest = vp, fp
            status = stationarity(problem, v)
    ok, why = status
    return v, fbest, ok, why, nfev


def stationarity(problem: Problem, v: np.ndarray) -> tuple[bool, str]:
    """Whether ``v`` is a minimum of a least-squares objective, and why not.

    The test is scale-free: the share of the residuals that lies in the span of the Jacobian's
    columns (of the free parameters not held at a bound) is the relative decrease a
    Gauss-Newton step would still bring. A parameter with no effect on the prediction
    (driven towards infinity) is not a minimum either.
    """
    r, J = problem.residuals(v)
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(J))):
        return False, "the residuals or their Jacobian are not finite at the result"
    rr = float(r @ r)
    if rr <= 1e-28 * max(r.size, 1):
        return True, "exact fit"
    g = J.T @ r
    tol = 1e-10 * (np.abs(v) + 1.0)
    held = (((v - problem.lower) <= tol) & (g > 0)) | (((problem.upper - v) <= tol) & (g < 0))
    Jf = J[:, ~held]
    if Jf.shape[1] == 0:
        return True, "every free parameter is held at a bound"
    norms = np.linalg.norm(Jf, axis=0)
    free_names = [problem.names[i] for i, h in zip(problem.free, held, strict=True) if not h]
    dead = [n for n, c in zip(free_names, norms, strict=True)
            if not c > 1e-12 * max(float(norms.max()), 1e-300)]
    if dead:
        return False, (f"parameter(s) {', '.join(dead)} have no effect on the prediction at the "
                       "result (driven towards infinity?): not a minimum")
    Q, _ = np.linalg.qr(Jf / norms)
    share = float(np.sum((Q.T @ r) ** 2) / rr)
    if share > STATIONARY_RTOL:
        return False, (f"not at a minimum: a Gauss-Newton step would still lower the objective "
                       f"by a fraction {share:.2g} (the optimiser stopped short)")
    return True, "stationary point of the least-squares objective"


# ---------------------------------------------------------------------- batched L-BFGS
def batched_lbfgs(problem: Problem, V0: np.ndarray, *, weights: np.ndarray | None = None,
                  maxiter: int = 400, m: int = 10, ftol: float = 1e-12, gtol: float = 1e-10,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimise B objectives at once (same data, per-problem point ``weights`` (B, n)).

    A vectorised L-BFGS with a backtracking Armijo line search and projection onto the bounds:
    every iteration is one batched evaluation of all active problems. Returns the minimisers
    (B, F), the objectives (B,) and a converged flag (B,).
    """
    V = problem.clip(np.array(V0, float, copy=True))
    B, F = V.shape
    W = weights

    def vg(idx, Vs):
        return problem.value_grad(Vs, weights=None if W is None else W[idx])

    idx_all = np.arange(B)
    f, g = vg(idx_all, V)
    S = np.zeros((m, B, F))
    Y = np.zeros((m, B, F))
    R = np.zeros((m, B))
    k = np.zeros(B, int)  # pairs stored per problem (ring buffer position = k % m)
    active = np.isfinite(f)
    done = ~active
    for _ in range(maxiter):
        act = np.flatnonzero(active)
        if act.size == 0:
            break
        ga = g[act]
        # two-loop recursion, batched; unused slots have R = 0 and contribute nothing
        q = ga.copy()
        alphas = np.zeros((m, act.size))
        kk = k[act]
        for j in range(m):
            slot = (kk - 1 - j) % m
            valid = j < np.minimum(kk, m)
            s = S[slot, act]
            yv = Y[slot, act]
            r = np.where(valid, R[slot, act], 0.0)
            a = r * np.einsum("bf,bf->b", s, q)
            alphas[j] = a
            q -= a[:, None] * yv
        last = (kk - 1) % m
        sl, yl = S[last, act], Y[last, act]
        yy = np.einsum("bf,bf->b", yl, yl)
        sy = np.einsum("bf,bf->b", sl, yl)
        gamma = np.where((kk > 0) & (yy > 0) & (sy > 0), sy / np.where(yy > 0, yy, 1.0), 0.0)
        # first step: a small move along the gradient
        gn = np.linalg.norm(ga, axis=1)
        gamma = np.where(gamma > 0, gamma, 1e-3 / np.maximum(gn, 1e-300))
        z = gamma[:, None] * q
        for j in reversed(range(m)):
            slot = (kk - 1 - j) % m
            valid = j < np.minimum(kk, m)
            r = np.where(valid, R[slot, act], 0.0)
            b = r * np.einsum("bf,bf->b", Y[slot, act], z)
            z += (alphas[j] - b)[:, None] * S[slot, act]
        d = -z
        slope = np.einsum("bf,bf->b", d, ga)
        bad = ~(slope < 0)
        d[bad] = -gamma[bad, None] * ga[bad]
        slope[bad] = -gamma[bad] * gn[bad] ** 2
        # backtracking line search on the active set
        t = np.ones(act.size)
        Vnew = np.empty_like(V[act])
        fnew = np.full(act.size, np.inf)
        gnew = np.zeros_like(ga)
        pending = np.arange(act.size)
        for _ls in range(30):
            cand = problem.clip(V[act[pending]] + t[pending, None] * d[pending])
            fc, gc = vg(act[pending], cand)
            step = cand - V[act[pending]]
            dec = np.einsum("bf,bf->b", step, ga[pending])
            ok = np.isfinite(fc) & (fc <= f[act[pending]] + 1e-4 * np.minimum(dec, 0.0))
            acc = pending[ok]
            Vnew[acc], fnew[acc], gnew[acc] = cand[ok], fc[ok], gc[ok]
            pending = pending[~ok]
            if pending.size == 0:
                break
            t[pending] *= 0.5
        stuck = np.zeros(act.size, bool)
        stuck[pending] = True
        moved = ~stuck
        am = act[moved]
        s_new = Vnew[moved] - V[am]
        y_new = gnew[moved] - g[am]
        sy = np.einsum("bf,bf->b", s_new, y_new)
        good = sy > 1e-12 * np.linalg.norm(s_new, axis=1) * np.linalg.norm(y_new, axis=1)
        slot = k[am] % m
        S[slot, am] = s_new
        Y[slot, am] = y_new
        R[slot, am] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        k[am] += 1
        fold = f[am].copy()
        V[am], f[am], g[am] = Vnew[moved], fnew[moved], gnew[moved]
        # convergence: relative decrease, projected gradient, or a line search that cannot move
        pg = np.abs(problem.clip(V[am] - g[am]) - V[am]).max(axis=1)
        conv = ((fold - f[am]) <= ftol * np.maximum(np.abs(f[am]), 1e-300)) | (pg <= gtol)
        done[am[conv]] = True
        done[act[stuck]] = True
        active = ~done
    converged = done & np.isfinite(f)
    return V, f, converged
