"""Numerical kernels of the loss-curve laws: O(T) sums over the per-step learning rate.

Conventions follow the multi-power-law reference code (Luo et al. 2025): ``eta[i]`` is the LR of
step ``i`` (step 0 first), ``S(t) = sum_{i<=t} eta[i]`` (warmup included) and the loss logged at
step ``t`` is predicted from ``S1 = S(t)`` and the loss-drop term

    LD(t) = sum_{k=1..t} (eta[k] - eta[k-1]) * (1 - (1 + C * eta[k]^-gamma * (S(t) - S(k-1)))^-beta)

(so ``S_k(t) = S(t) - S(k-1)`` sums the LR over steps k..t inclusive).

Why this is linear in T
-----------------------
Only steps where the LR changes contribute. With ``p_k = eta_k^gamma / C`` the k-th term is
``Delta_k * (1 - p_k^beta * x^-beta)`` with ``x = S(t) - S(k-1) + p_k``. The power is written
as a sum of exponentials, ``x^-beta = sum_q w_q exp(-s_q x)`` (the trapezoidal rule on
``x^-beta = Gamma(beta)^-1 * integral exp(beta*tau - e^tau * x) dtau``, exponentially accurate
because the integrand is analytic in a strip; nodes below ``tau_0`` are summed in closed form
through a Taylor series in x and geometric sums). An exponential factorises over time, so
``sum_k v_k exp(-s_q x_k(t))`` obeys a one-step recursion and all targets cost
O((T + n) * Q) with Q about 60 nodes for 1e-12 relative accuracy on every power, whatever the
schedule. :func:`mpl_loss_drop_direct` is the plain O(n * K) evaluation (K = steps where
the LR changes) used to check it.
"""

from __future__ import annotations

from math import factorial

import numpy as np
from scipy.signal import lfilter
from scipy.sparse import csr_matrix
from scipy.special import digamma, gammaln

#: trapezoid step in tau: 0.35 gives ~2e-12 relative error on x^-beta, 0.5 ~1e-8
H_ACCURATE = 0.35
_J = 12  # Taylor terms of the closed-form lower tail
_LO = 0.2  # the tail starts where exp(tau_0) * x_max = _LO


def lr_cumsum(eta: np.ndarray) -> np.ndarray:
    """Summed LR ``S(t) = sum_{i<=t} eta[i]`` at every step (warmup included)."""
    return np.cumsum(np.asarray(eta, dtype=float))


# ---------------------------------------------------------------------- sum of exponentials
def _nodes(xmin: float, xmax: float, h: float):
    tau0 = np.log(_LO / xmax)
    hi = np.log(40.0 / xmin)  # exp(-s x) < 4e-18 beyond
    n = int(np.ceil((hi - tau0) / h)) + 1
    return tau0, tau0 + h * np.arange(n)


def _weights(tau: np.ndarray, h: float, b: float):
    """Node weights of x^-b and their derivative in b."""
    lw = np.log(h) + b * tau - gammaln(b)
    w = np.exp(lw)
    return w, w * (tau - digamma(b))


def _tail_coefs(tau0: float, h: float, b: float):
    """x^-b restricted to nodes below tau_0 = sum_j c_j x^j (and d c_j / d b)."""
    j = np.arange(_J)
    r = np.exp(-(b + j) * h)
    geo = r / (1 - r)
    fact = np.array([float(factorial(i)) for i in j])
    c = (-1.0) ** j / fact * h * np.exp((b + j) * tau0 - gammaln(b)) * geo
    # d/db of log(geo) = -h / (1 - r)
    dc = c * (tau0 - digamma(b) - h / (1 - r))
    return c, dc


class _Plan:
    """Sources (steps where the LR changes) grouped by the target step they precede."""

    def __init__(self, eta: np.ndarray, targets: np.ndarray):
        eta = np.asarray(eta, dtype=float)
        t = np.asarray(targets, dtype=np.int64)
        self.S = np.cumsum(eta)
        self.targets = t
        tmax = int(t.max()) if t.size else 0
        d = np.zeros(eta.size)
        d[1:] = np.diff(eta)
        k = np.flatnonzero(d[: tmax + 1])
        k = k[k >= 1]
        self.k = k
        self.delta = d[k]
        self.eta_k = eta[k]
        self.Sk1 = self.S[k - 1]
        # segment of each source: first target >= k (targets sorted ascending)
        order = np.argsort(t, kind="stable")
        self.order = order
        ts = t[order]
        self.ts = ts
        self.seg = np.searchsorted(ts, k, side="left")
        self.St = self.S[ts]
        # cumulative Delta over sources up to each target
        cd = np.cumsum(self.delta)
        idx = np.searchsorted(k, ts, side="right") - 1
        self.sum_delta = (np.where(idx >= 0, cd[np.maximum(idx, 0)], 0.0) if cd.size
                          else np.zeros(ts.size))
        self.n_upto = idx + 1


def _soe_sums(plan: _Plan, p: np.ndarray, W: np.ndarray, h: float, xmax: float):
    """E[j, q, m] = sum_{k <= t_j} W[k, m] exp(-s_q x_k(t_j)), x_k(t) = S(t) - S(k-1) + p_k."""
    n = plan.ts.size
    if plan.k.size == 0 or n == 0:
        return None
    y_local = plan.St[plan.seg] - plan.Sk1 + p  # x at the source's own target, >= 0
    xmin = max(float(np.min(y_local[y_local > 0])) if np.any(y_local > 0) else 1e-12, 1e-300)
    tau0, tau = _nodes(xmin, max(xmax, xmin * 10), h)
    s = np.exp(tau)
    X = np.exp(-np.outer(y_local, s))  # (K, Q)
    M = W.shape[1]
    # per-segment sums of W[k, m] * X[k, q]: one sparse (targets x sources) product per weight
    local = np.empty((n, s.size, M))
    for m in range(M):
        seg = csr_matrix((W[:, m], (plan.seg, np.arange(plan.seg.size))),
                         shape=(n, plan.seg.size))
        local[:, :, m] = seg @ X
    # carry from one target to the next: E_j = D_j * E_(j-1) + local_j
    gaps = np.diff(plan.St, prepend=plan.St[0])
    D = np.exp(-np.outer(gaps, s))  # (n, Q)
    E = np.empty_like(local)
    acc = np.zeros((s.size, M))
    for j in range(n):
        acc = D[j][:, None] * acc + local[j]
        E[j] = acc
    return tau0, tau, E


def _poly_sums(plan: _Plan, p: np.ndarray, W: np.ndarray):
    """P[j, i, m] = sum_{k <= t_j} W[k, m] x_k(t_j)^i for i < _J, via binomial moments."""
    a = p - plan.Sk1  # x = S(t) + a
    n = plan.ts.size
    M = W.shape[1]
    pw = np.ones_like(a)
    mom = []
    for _ in range(_J):
        cs = np.cumsum(W * pw[:, None], axis=0)
        mom.append(np.where(plan.n_upto[:, None] > 0, cs[np.maximum(plan.n_upto - 1, 0)], 0.0))
        pw = pw * a
    mom = np.stack(mom, axis=1)  # (n, m_power, M)
    out = np.zeros((n, _J, M))
    St = plan.St
    from scipy.special import comb
    for i in range(_J):
        for m in range(i + 1):
            out[:, i, :] += comb(i, m) * (St ** (i - m))[:, None] * mom[:, m, :]
    return out


def mpl_loss_drop(eta: np.ndarray, targets: np.ndarray, C: float, beta: float, gamma: float,
                  *, grad: bool = False, h: float = H_ACCURATE):
    """LD(t) at the target steps (and, with ``grad``, dLD/d(C, beta, gamma) as (n, 3))."""
    plan = _Plan(eta, targets)
    n = plan.ts.size
    if plan.k.size == 0:
        out = np.zeros(n)
        return (out, np.zeros((n, 3))) if grad else out
    eta_k = plan.eta_k
    pos = eta_k > 0
    with np.errstate(divide="ignore"):
        leta = np.where(pos, np.log(np.where(pos, eta_k, 1.0)), 0.0)
    p = np.where(pos, np.exp(gamma * leta) / C, 0.0)  # eta_k^gamma / C
    v = np.where(pos, plan.delta * np.exp(beta * (gamma * leta - np.log(C))), 0.0)  # Delta p^beta
    xmax = float(plan.St.max() - min(plan.Sk1.min(), 0.0) + p.max()) + 1e-300
    if grad:
        lp = np.where(pos, gamma * leta - np.log(C), 0.0)
        W = np.stack([v, v * lp, v * leta, v * p, v * p * leta], axis=1)
    else:
        W = v[:, None]
    tau0, tau, E = _soe_sums(plan, p, W, h, xmax)
    P = _poly_sums(plan, p, W)
    w0, dw0 = _weights(tau, h, beta)
    c0, dc0 = _tail_coefs(tau0, h, beta)
    F = E[:, :, 0] @ w0 + P[:, :, 0] @ c0  # sum v x^-beta
    LD = plan.sum_delta - F
    out = np.empty(n)
    out[plan.order] = LD
    if not grad:
        return out
    w1, _ = _weights(tau, h, beta + 1)
    c1, _ = _tail_coefs(tau0, h, beta + 1)

    def k0(m):  # sum W_m x^-beta
        return E[:, :, m] @ w0 + P[:, :, m] @ c0

    def k1(m):  # sum W_m x^-(beta+1)
        return E[:, :, m] @ w1 + P[:, :, m] @ c1

    dF_dbeta = k0(1) + E[:, :, 0] @ dw0 + P[:, :, 0] @ dc0
    dF_dC = -beta / C * F + beta / C * k1(3)
    dF_dgamma = beta * k0(2) - beta * k1(4)
    g = -np.stack([dF_dC, dF_dbeta, dF_dgamma], axis=1)
    gout = np.empty_like(g)
    gout[plan.order] = g
    return out, gout


def mpl_loss_drop_direct(eta: np.ndarray, targets: np.ndarray, C: float, beta: float,
                         gamma: float, *, chunk: int = 4_000_000) -> np.ndarray:
    """The same LD(t), summed term by term: O(n * K) (K = steps where the LR changes)."""
    eta = np.asarray(eta, dtype=float)
    S = np.cumsum(eta)
    d = np.zeros(eta.size)
    d[1:] = np.diff(eta)
    targets = np.asarray(targets, dtype=np.int64)
    k = np.flatnonzero(d)
    k = k[k >= 1]
    out = np.zeros(targets.size)
    if k.size == 0:
        return out
    with np.errstate(divide="ignore"):
        bk = C * eta[k] ** (-gamma)
    rows = max(1, chunk // k.size)
    for i0 in range(0, targets.size, rows):
        t = targets[i0:i0 + rows]
        rem = S[t][:, None] - S[k - 1][None, :]
        with np.errstate(invalid="ignore", over="ignore"):
            term = 1.0 - (1.0 + bk[None, :] * rem) ** (-beta)
        term = np.where(np.isfinite(term), term, 1.0)
        mask = k[None, :] <= t[:, None]
        out[i0:i0 + rows] = np.sum(np.where(mask, d[k][None, :] * term, 0.0), axis=1)
    return out


def mpl_loss_drop_quadratic(eta: np.ndarray, C: float, beta: float, gamma: float) -> np.ndarray:
    """LD at every step by the textbook double loop over (t, k): O(T^2); for benchmarks only."""
    eta = np.asarray(eta, dtype=float)
    S = np.cumsum(eta)
    gap = np.zeros(eta.size)
    gap[1:] = np.diff(eta)
    out = np.zeros(eta.size)
    with np.errstate(divide="ignore"):
        b = C * eta ** (-gamma)
    for t in range(1, eta.size):
        rem = S[t] - S[:t]
        out[t] = np.sum(gap[1:t + 1] * (1 - (1 + b[1:t + 1] * rem) ** (-beta)))
    return out


# ---------------------------------------------------------------------- LR annealing (Tissue)
def annealing_momentum(eta: np.ndarray, lam: float, *, grad: bool = False):
    """S2(t) = sum_{i<=t} m_i, m_i = lam * m_(i-1) + (eta_(i-1) - eta_i), m_0 = 0 (O(T))."""
    eta = np.asarray(eta, dtype=float)
    d = np.zeros(eta.size)
    d[1:] = eta[:-1] - eta[1:]
    m = lfilter([1.0], [1.0, -lam], d)
    S2 = np.cumsum(m)
    if not grad:
        return S2
    # dm_i/dlam = lam * dm_(i-1)/dlam + m_(i-1)
    mprev = np.r_[0.0, m[:-1]]
    dm = lfilter([1.0], [1.0, -lam], mprev)
    return S2, np.cumsum(dm)
