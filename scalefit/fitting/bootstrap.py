"""Uncertainty: a bootstrap over runs and a delta-method band.

The bootstrap resamples RUNS with replacement (all points of a run go together: the points of
one loss curve are not independent), so a resample is a vector of per-point weights (how many
times its run was drawn). All resamples share the data, so they are refitted together by one
vectorised L-BFGS (:func:`~scalefit.fitting.optimize.batched_lbfgs`), each warm-started from the
point estimate. Intervals are percentiles of the refitted parameters and of anything computed
from them (predictions, derived quantities, compute-optimal allocations).

The delta method linearises the log prediction around the estimate: cov = s² (JᵀJ)⁻¹ with J the
Jacobian of the log residuals in the internal parameters and s² their mean square; it is fast
and a good first look, but it assumes a unimodal, locally quadratic objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalefit.fitting.optimize import Problem, batched_lbfgs, blas_threads

__all__ = ["BootstrapResult", "RunWeights", "bootstrap", "resample_weights", "resample_counts",
           "percentile_interval", "delta_method"]

# points per block of the delta method's Jacobian: its (points x parameters) arrays stay a few
# MB however many points there are (one block, bit for bit the unblocked sums, up to this size)
DELTA_BLOCK = 65_536


def normal_quantile(level: float) -> float:
    """z of a two-sided normal interval at ``level`` (scipy.stats.norm.ppf without importing
    scipy.stats, which costs a command-line fit more than its whole fit)."""
    from scipy.special import ndtri

    return ndtri(0.5 + level / 2)


@dataclass
class BootstrapResult:
    """Refitted parameters of each resample: ``samples`` (B, P) natural, ``u`` internal."""

    samples: np.ndarray
    u: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    n_runs: int
    seed: int

    @property
    def n(self) -> int:
        """Number of resamples."""
        return int(self.samples.shape[0])


class RunWeights:
    """Per-point resample weights (B, n) kept as per-run counts (B, R): a row of points is
    expanded only when it is read (``W[b]``, ``W[i:j]``), so B resamples of a million points
    cost B x R numbers, not B x n."""

    def __init__(self, counts: np.ndarray, inv: np.ndarray):
        self.counts, self.inv = counts, inv

    @property
    def shape(self) -> tuple[int, int]:
        """(B, n): resamples by points, the shape of the expanded weights."""
        return (self.counts.shape[0], self.inv.size)

    def __len__(self) -> int:
        return self.counts.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        return self.counts[key][..., self.inv]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        W = self.counts[:, self.inv]
        return W if dtype is None else W.astype(dtype, copy=False)


def resample_counts(groups: np.ndarray, n_boot: int, rng: np.random.Generator) -> RunWeights:
    """The resample weights of :func:`resample_weights` (same draws), as per-run counts."""
    groups = np.asarray(groups)
    codes, inv = np.unique(groups, return_inverse=True)
    R = codes.size
    draws = rng.integers(0, R, size=(n_boot, R))
    counts = np.zeros((n_boot, R))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return RunWeights(counts, inv.reshape(-1))


def resample_weights(groups: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Per-point weights (B, n): the number of times each point's run was drawn."""
    return np.asarray(resample_counts(groups, n_boot, rng))


def bootstrap(problem: Problem, v_hat: np.ndarray, groups: np.ndarray, n_boot: int = 1000, *,
              seed: int = 0, max_elems: int = 4_000_000, maxiter: int = 500) -> BootstrapResult:
    """Refit ``problem`` on ``n_boot`` run resamples, warm-started from ``v_hat`` (free params).

    Resamples are refitted in chunks of at most ``max_elems`` (resamples x points) so memory stays
    bounded on large checkpoint data sets. Resamples the batched L-BFGS leaves unconverged are
    finished one by one with scipy's L-BFGS-B.
    """
    with blas_threads(1):
        return _bootstrap(problem, v_hat, groups, n_boot, seed, max_elems, maxiter)


def _bootstrap(problem, v_hat, groups, n_boot, seed, max_elems, maxiter) -> BootstrapResult:
    rng = np.random.default_rng(seed)
    W = resample_counts(groups, n_boot, rng)
    V, f, conv = refit_weighted(problem, v_hat, W, max_elems=max_elems, maxiter=maxiter)
    U = problem.full(V)
    return BootstrapResult(problem.law.to_natural(U), U, f, conv, int(np.unique(groups).size),
                           seed)


def refit_weighted(problem: Problem, v_hat: np.ndarray, W: np.ndarray | RunWeights, *,
                   max_elems: int = 4_000_000, maxiter: int = 500, max_polish: int = 200):
    """Refit ``problem`` under each row of point weights ``W`` (B, n), warm-started from the free
    parameters ``v_hat``: batched L-BFGS in chunks of at most ``max_elems`` (rows x points), then
    scipy's L-BFGS-B on up to ``max_polish`` rows it left unconverged.

    Returns the free parameters (B, F), objectives (B,) and a converged flag (B,). Callers that
    need the same resample across several problems (a chained fit) draw ``W`` once and pass it;
    a :class:`RunWeights` is expanded one chunk of rows at a time.
    """
    from scipy.optimize import minimize

    n_boot, n = W.shape
    chunk = max(1, min(n_boot, max_elems // max(n * max(problem.P, 1), 1)))
    V = np.empty((n_boot, problem.F))
    f = np.empty(n_boot)
    conv = np.empty(n_boot, bool)
    for i in range(0, n_boot, chunk):
        sl = slice(i, min(i + chunk, n_boot))
        k = sl.stop - sl.start
        V[sl], f[sl], conv[sl] = batched_lbfgs(problem, np.repeat(v_hat[None], k, 0),
                                               weights=W[sl], maxiter=maxiter)
    bounds = problem.scipy_bounds()
    for b in np.flatnonzero(~conv)[:max_polish]:
        def fun(v, w=W[b]):
            fv, g = problem.value_grad(v[None], weights=w)
            return float(fv[0]), g[0]
        start = V[b] if np.all(np.isfinite(V[b])) else v_hat
        res = minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-10})
        if np.isfinite(res.fun) and (not np.isfinite(f[b]) or res.fun <= f[b]):
            V[b], f[b] = res.x, res.fun
        conv[b] = bool(np.isfinite(res.fun))
    return V, f, conv


def percentile_interval(samples: np.ndarray, level: float = 0.95, axis: int = 0):
    """(lo, hi) percentile interval of ``samples`` along ``axis``, ignoring NaN."""
    a = (1.0 - level) / 2.0
    with np.errstate(all="ignore"):
        lo = np.nanpercentile(samples, 100 * a, axis=axis)
        hi = np.nanpercentile(samples, 100 * (1 - a), axis=axis)
    return lo, hi


# ---------------------------------------------------------------------- delta method
def _free_jacobian(problem: Problem, v: np.ndarray) -> np.ndarray:
    """d(full internal)/d(free internal), (P, F): a selection, plus expressions by differences."""
    P, F = problem.P, problem.F
    Jm = np.zeros((P, F))
    for j, i in enumerate(problem.free):
        Jm[i, j] = 1.0
    if problem.exprs:
        U0 = problem.full(v)
        for j in range(F):
            h = 1e-7 * max(1.0, abs(v[j]))
            vp = v.copy()
            vp[j] += h
            Jm[:, j] = (problem.full(vp) - U0) / h
            for i in problem.free:
                Jm[i, j] = 1.0 if problem.free.index(i) == j else 0.0
    return Jm


def log_pred_jacobian(problem: Problem, X: dict, v: np.ndarray, Jm: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Prediction at ``X`` (m,) and the Jacobian of its log in the free internal params (m, F).
    ``Jm``: :func:`_free_jacobian` at ``v``, when the caller already has it."""
    law = problem.law
    u = problem.full(v)
    theta = law.to_natural(u)
    pred = law._predict(X, theta)
    J = law._jacobian(X, theta)  # (m, P)
    J *= np.where(problem.logmask, theta, 1.0)  # d/d internal
    J /= pred[:, None]
    G = J @ (_free_jacobian(problem, v) if Jm is None else Jm)
    return pred, G


def _point_blocks(X: dict, n: int, block: int | None = None):
    """(slice, X of those points) over ``n`` points, ``block`` (default DELTA_BLOCK) at a time."""
    block = DELTA_BLOCK if block is None else block
    if n <= block:
        yield slice(0, n), X
        return
    for i in range(0, n, block):
        sl = slice(i, min(i + block, n))
        yield sl, {k: (a[sl] if np.ndim(a) and len(a) == n else a) for k, a in X.items()}


def delta_method(problem: Problem, v: np.ndarray) -> dict:
    """Covariance of the free internal parameters, and the condition number of JᵀJ."""
    y = problem.y
    n, F = y.size, problem.F
    Jm = _free_jacobian(problem, v)
    JtJ, rr = None, 0.0
    # JᵀJ and the residual sum of squares, a block of points at a time
    for sl, Xb in _point_blocks(problem.X, n):
        pred, G = log_pred_jacobian(problem, Xb, v, Jm)
        if problem.objective.space == "log":
            r = np.log(y[sl]) - np.log(pred)
        else:  # linear residuals: scale the log Jacobian back to the loss
            r = y[sl] - pred
            G = G * pred[:, None]
        JtJ = G.T @ G if JtJ is None else JtJ + G.T @ G
        rr += float(r @ r)
    if JtJ is None:
        JtJ = np.zeros((F, F))
    # scale-free condition number: of the correlation-like matrix of JᵀJ
    d = np.sqrt(np.clip(np.diag(JtJ), 1e-300, None))
    with np.errstate(all="ignore"):
        cond = float(np.linalg.cond(JtJ / np.outer(d, d)))
    s2 = rr / max(n - F, 1)
    try:
        cov = s2 * np.linalg.pinv(JtJ)
    except np.linalg.LinAlgError:
        cov = np.full((F, F), np.nan)
    return {"cov": cov, "cond": cond, "s2": s2, "dof": n - F}


def delta_interval_params(problem: Problem, v: np.ndarray, cov: np.ndarray, level: float = 0.95
                          ) -> dict[str, tuple[float, float, float]]:
    """name -> (stderr in natural units, lo, hi), from a normal interval in internal space."""
    z = normal_quantile(level)
    Jm = _free_jacobian(problem, v)
    covU = Jm @ cov @ Jm.T
    u = problem.full(v)
    out = {}
    for i, p in enumerate(problem.law.params):
        sd = float(np.sqrt(max(covU[i, i], 0.0)))
        if sd == 0.0 and i not in problem.free and not problem.exprs:
            continue
        lo, hi = p.to_natural(u[i] - z * sd), p.to_natural(u[i] + z * sd)
        val = p.to_natural(u[i])
        se = float(val * sd) if p.log else sd
        out[p.name] = (se, float(lo), float(hi))
    return out


def delta_band(problem: Problem, v: np.ndarray, cov: np.ndarray, X: dict, level: float = 0.95):
    """Prediction and its delta-method (lo, hi) at inputs ``X`` (log-normal band)."""
    z = normal_quantile(level)
    X = problem.law.check_inputs(X)
    pred, G = log_pred_jacobian(problem, X, v)
    sd = np.sqrt(np.clip(np.einsum("mf,fg,mg->m", G, cov, G), 0.0, None))
    return pred, pred * np.exp(-z * sd), pred * np.exp(z * sd)
