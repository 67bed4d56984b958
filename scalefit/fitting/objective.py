"""Fitting objectives: a loss on residuals, summed over points, vectorised over parameter batches.

Residuals are taken in log space by default, ``r = log y - log ŷ`` (a relative error, which is
what matters when losses span a range of sizes), or in linear space, ``r = y - ŷ``.
The per-point losses follow :func:`scipy.special.huber` semantics, so the default objective is
exactly the one of Hoffmann et al. 2022 and Besiroglu et al. 2024::

    sum_i huber(delta, log y_i - log ŷ_i),   huber(d, r) = r²/2 if |r| <= d else d·(|r| - d/2)

The sum (not the mean) is deliberate: averaging shrinks the gradient and L-BFGS stops early.

Every function here takes a batch: parameters ``u`` of shape (S, P) in the optimiser's internal
space (log for ``log=True`` parameters) and returns values (S,) and gradients (S, P).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalefit.errors import FitError, UsageError

__all__ = ["Objective", "make_objective", "OBJECTIVES", "evaluate"]

OBJECTIVES = ("huber", "mse", "mse_linear", "asymmetric")


@dataclass(frozen=True)
class Objective:
    """A per-point loss ``rho(r)`` on residuals in ``space`` ("log" or "linear").

    ``kind``: "huber" (``delta``), "mse" (``r²/2``), or "asymmetric": Huber with the loss of
    over-predictions (ŷ > y, i.e. ``r < 0``) multiplied by ``penalty``.
    """

    kind: str = "huber"
    space: str = "log"
    delta: float = 1e-3
    penalty: float = 1.0

    @property
    def name(self) -> str:
        """The name :func:`make_objective` takes: ``huber``, ``mse``, ``mse_linear`` or
        ``asymmetric``."""
        if self.kind == "mse":
            return "mse" if self.space == "log" else "mse_linear"
        return self.kind

    def rho(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-point loss and its derivative with respect to the residual."""
        if self.kind == "mse":
            return 0.5 * r * r, r
        d = self.delta
        a = np.abs(r)
        small = a <= d
        val = np.where(small, 0.5 * r * r, d * (a - 0.5 * d))
        der = np.clip(r, -d, d)
        if self.kind == "asymmetric" and self.penalty != 1.0:
            w = np.where(r < 0, self.penalty, 1.0)
            val, der = val * w, der * w
        return val, der

    def to_dict(self) -> dict:
        """The objective as a JSON-ready dict (name, kind, space, delta, penalty)."""
        return {"name": self.name, "kind": self.kind, "space": self.space, "delta": self.delta,
                "penalty": self.penalty}


def make_objective(name: str | Objective = "huber", *, delta: float = 1e-3,
                   penalty: float = 4.0) -> Objective:
    """Objective from a name: ``huber`` (default), ``mse`` (log residuals), ``mse_linear``,
    ``asymmetric`` (Huber that costs ``penalty`` times more when the law over-predicts)."""
    if isinstance(name, Objective):
        return name
    if not (delta > 0):
        raise UsageError(f"delta must be positive, got {delta}", where="delta")
    if name == "huber":
        return Objective("huber", "log", delta)
    if name == "mse":
        return Objective("mse", "log", delta)
    if name == "mse_linear":
        return Objective("mse", "linear", delta)
    if name == "asymmetric":
        if not penalty > 0:
            raise UsageError(f"penalty must be positive, got {penalty}", where="penalty")
        return Objective("asymmetric", "log", delta, float(penalty))
    raise UsageError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}",
                     where="objective")


def residuals(law, X, y, theta, space: str = "log") -> np.ndarray:
    """Residuals (S, n) at natural parameters ``theta`` (S, P)."""
    pred = law._predict(X, theta)
    if space == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(y) - np.log(pred)
    return y - pred


#: at most this many (parameter sets x points) per batched evaluation: larger batches are cut
#: into chunks (of parameter sets first, then of points) so memory stays bounded on big data sets
CHUNK_ELEMS = 1 << 18


def evaluate(law, X: dict, y: np.ndarray, u: np.ndarray, objective: Objective, *,
             weights: np.ndarray | None = None, grad: bool = True,
             logmask: np.ndarray | None = None, max_elems: int | None = None):
    """Objective value (S,) and, with ``grad``, its gradient (S, P) in internal space.

    ``u``: internal parameters (S, P) (or (P,)). ``weights``: per-point weights (n,) or (S, n)
    (bootstrap counts). Non-finite predictions give an infinite objective and zero gradient, so a
    line search backs off instead of failing.

    Batches of more than ``max_elems`` (default :data:`CHUNK_ELEMS`) parameter sets x points are
    evaluated in chunks: of parameter sets (each row's sum is unchanged), and when the points
    alone exceed it, of points, whose values and gradients are summed.
    """
    u = np.asarray(u, dtype=float)
    single = u.ndim == 1
    U = u[None] if single else u
    if logmask is None:
        logmask = np.array([p.log for p in law.params])
    y = np.asarray(y, dtype=float)
    S, n = U.shape[0], y.shape[-1]
    budget = CHUNK_ELEMS if max_elems is None else max(1, int(max_elems))
    if S * n > budget and (S > 1 or _point_sliceable(X, n)):
        out = _evaluate_chunked(law, X, y, U, objective, weights, grad, logmask, budget)
    else:
        out = _evaluate(law, X, y, U, objective, weights, grad, logmask)
    if not grad:
        return out[0] if single else out
    val, g = out
    if single:
        return val[0], g[0]
    return val, g


def _point_sliceable(X: dict, n: int) -> bool:
    """Whether every input is a per-point array (n, ...) that can be cut into chunks of points."""
    return all(isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n for v in X.values())


def _evaluate_chunked(law, X, y, U, objective, weights, grad, logmask, budget):
    S, n = U.shape[0], y.shape[-1]
    w = None if weights is None else np.asarray(weights, dtype=float)
    rows = max(1, budget // n)
    pts = n if rows > 1 or not _point_sliceable(X, n) else budget
    val = np.zeros(S)
    g = np.zeros(U.shape) if grad else None
    for i in range(0, S, rows):
        rs = slice(i, min(i + rows, S))
        for j in range(0, n, pts):
            ps = slice(j, min(j + pts, n))
            whole = ps.start == 0 and ps.stop == n
            Xc = X if whole else {k: v[ps] for k, v in X.items()}
            wc = w
            if w is not None:
                wc = w[..., ps] if w.ndim == 1 else w[rs, ps]
            out = _evaluate(law, Xc, y[ps], U[rs], objective, wc, grad, logmask)
            if grad:
                val[rs] += out[0]
                g[rs] += out[1]
            else:
                val[rs] += out
    if not grad:
        return val
    # a chunk that is not finite makes the whole row's value infinite and gradient zero
    bad = ~np.isfinite(val)
    return val, np.where(bad[:, None] | ~np.isfinite(g), 0.0, g)


def _evaluate(law, X, y, U, objective, weights, grad, logmask):
    """:func:`evaluate` on a batch U (S, P) in one piece."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        theta = np.where(logmask, np.exp(np.where(logmask, U, 0.0)), U)
        pred = law._predict(X, theta)
        if objective.space == "log":
            r = np.log(y) - np.log(pred)
        else:
            r = y - pred
        val_i, der_i = objective.rho(r)
        if weights is not None:
            val_i = val_i * weights
            der_i = der_i * weights
        val = val_i.sum(axis=-1)
    bad = ~np.isfinite(val)
    val = np.where(bad, np.inf, val)
    if not grad:
        return val
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        J = law._jacobian(X, theta)  # (S, n, P): d pred / d theta
        # d r / d pred: -1/pred (log) or -1 (linear); d theta / d u: theta for log params
        dr = -der_i / pred if objective.space == "log" else -der_i
        g = np.einsum("sn,snp->sp", dr, J)
        g = g * np.where(logmask, theta, 1.0)
    g = np.where(bad[:, None] | ~np.isfinite(g), 0.0, g)
    return val, g


def check_positive(y: np.ndarray, objective: Objective, where: str = "data") -> None:
    """Raise ``FitError`` (naming ``where``) if a log-space objective meets losses ``y <= 0``."""
    if objective.space == "log" and np.any(y <= 0):
        k = int(np.sum(y <= 0))
        raise FitError(f"{k} non-positive loss value(s) cannot be fitted with a log objective",
                       where=where, hint="drop them, or use objective='mse_linear'")
