"""Kaplan et al. 2020: pure power laws in N, D or C, the joint L(N, D) and L(N, S_min)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalefit.errors import UsageError
from scalefit.laws.base import BATCH, D, Law, N, Param, S, register, size_input

_LOGSCALE_GRID = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0)
_EXP_GRID = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)

#: Kaplan et al. 2020, eq. (1.1)-(1.3); C_c converted from 3.1e8 PF-days to FLOPs
_KAPLAN_EXAMPLES = {
    "N": ({"N_c": 8.8e13, "alpha_N": 0.076}, (1e6, 1e10)),
    "D": ({"D_c": 5.4e13, "alpha_D": 0.095}, (1e8, 1e11)),
    "C": ({"C_c": 3.1e8 * 8.64e19, "alpha_C": 0.050}, (1e15, 1e21)),
}


@register
class Kaplan(Law):
    """L(x) = (x_c / x)^alpha_x for x one of N, D or C (option ``kaplan:x=C``).

    Each is the loss when the other two resources do not limit it: N the non-embedding
    parameters, D the tokens, C the compute (FLOPs). Parameters are named after the variable
    (``N_c``, ``alpha_N``; ``D_c``, ``alpha_D``; ``C_c``, ``alpha_C``). In log space the law is a
    straight line, log L = alpha·(log x_c − log x).

    Source: Kaplan et al. 2020, "Scaling Laws for Neural Language Models", eq. (1.1)-(1.3).
    """

    name = "kaplan"
    formula = "L = (x_c/x)^alpha"
    source = "Kaplan et al. 2020, eq. (1.1)-(1.3)"

    def __init__(self, x: str = "N"):
        self.x = str(x)
        if self.x not in _KAPLAN_EXAMPLES:
            raise UsageError(f"law 'kaplan': x={self.x!r} must be one of N, D, C",
                             where="law option x", hint="e.g. kaplan:x=C")
        self.inputs = (size_input(self.x, self.name),)
        self.params = (
            Param(f"{self.x}_c", 0.0, np.inf, log=True, grid=_LOGSCALE_GRID,
                  doc=f"scale of {self.x} at which the loss is 1"),
            Param(f"alpha_{self.x}", 0.0, 5.0, grid=_EXP_GRID, doc="exponent"),
        )
        self.formula = f"L = ({self.x}_c/{self.x})^alpha_{self.x}"
        params, rng = _KAPLAN_EXAMPLES[self.x]
        self.example = {"params": params, "inputs": {self.x: rng}}

    def options(self) -> dict:
        """``x``, the size variable (N, D or C)."""
        return {"x": self.x}

    def _predict(self, X, theta):
        xc, alpha = np.moveaxis(np.asarray(theta, float), -1, 0)
        lr = np.log(xc)[..., None] - np.log(X[self.x])
        return np.exp(alpha[..., None] * lr)

    def _jacobian(self, X, theta):
        xc, alpha = np.moveaxis(np.asarray(theta, float), -1, 0)
        lr = np.log(xc)[..., None] - np.log(X[self.x])
        L = np.exp(alpha[..., None] * lr)
        return np.stack([L * (alpha / xc)[..., None], L * lr], -1)


@register
class KaplanND(Law):
    """L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D.

    The joint law of model size and data with early stopping; overfitting is avoided while
    D grows at least like N^(alpha_N/alpha_D) (reported as ``derived()["D_exponent"]``).

    Source: Kaplan et al. 2020, "Scaling Laws for Neural Language Models", eq. (1.5); typical
    values alpha_N = 0.076, alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13 (their table 2).
    """

    name = "kaplan_nd"
    formula = "L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D"
    source = "Kaplan et al. 2020, eq. (1.5)"
    inputs = (N, D)
    params = (
        Param("N_c", 0.0, np.inf, log=True, grid=(20.0, 25.0, 30.0, 35.0), doc="parameter scale"),
        Param("D_c", 0.0, np.inf, log=True, grid=(20.0, 25.0, 30.0, 35.0), doc="token scale"),
        Param("alpha_N", 0.0, 5.0, grid=(0.05, 0.1, 0.2), doc="parameter exponent"),
        Param("alpha_D", 1e-3, 5.0, grid=(0.05, 0.1, 0.2), doc="data exponent"),
    )
    example = {"params": {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
               "inputs": {"N": (1e6, 1e10), "D": (1e8, 1e11)}}

    @staticmethod
    def _parts(X, theta):
        Nc, Dc, aN, aD = (t[..., None] for t in np.moveaxis(np.asarray(theta, float), -1, 0))
        lnr = np.log(Nc) - np.log(X["N"])  # log(N_c/N)
        u = np.exp(aN / aD * lnr)
        v = Dc / X["D"]
        s = u + v
        return Nc, Dc, aN, aD, lnr, u, s

    def _predict(self, X, theta):
        _, _, _, aD, _, _, s = self._parts(X, theta)
        return s ** aD

    def _jacobian(self, X, theta):
        Nc, Dc, aN, aD, lnr, u, s = self._parts(X, theta)
        L = s ** aD
        sm1 = L / s  # s^(aD - 1)
        dNc = aN * sm1 * u / Nc
        dDc = aD * sm1 / X["D"]
        daN = sm1 * u * lnr
        daD = L * np.log(s) - sm1 * u * lnr * aN / aD
        return np.stack(np.broadcast_arrays(dNc, dDc, daN, daD), -1)

    def derived(self, params: Mapping[str, float]) -> dict[str, float]:
        """alpha_N / alpha_D; NaN where alpha_D is 0."""
        a_n, a_d = np.asarray(params["alpha_N"], float), np.asarray(params["alpha_D"], float)
        with np.errstate(all="ignore"):
            v = np.where(a_d != 0, a_n / np.where(a_d != 0, a_d, 1.0), np.nan)
        return {"D_exponent": float(v) if np.ndim(v) == 0 else v}


@register
class KaplanNDE(KaplanND):
    """L(N, D) = E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D.

    Kaplan's joint law for the reducible loss, plus an irreducible loss ``E`` (the "power law
    plus constant" of Henighan et al. 2020). Unlike Chinchilla's sum of two power laws, the N and
    D terms combine inside one power: how much a model gains from more tokens depends on its
    size (a bigger model is further from its data limit at the same D). With ``E = 0`` it is
    ``kaplan_nd``.

    Sources: Kaplan et al. 2020, "Scaling Laws for Neural Language Models", eq. (1.5) (the
    reducible part); Henighan et al. 2020, "Scaling Laws for Autoregressive Generative
    Modeling", eq. (1.1) (the constant).
    """

    name = "kaplan_nd_e"
    formula = "L = E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D"
    source = "Kaplan et al. 2020, eq. (1.5); Henighan et al. 2020, eq. (1.1)"
    without_e = "kaplan_nd"
    params = (Param("E", 0.0, np.inf, grid=(0.5, 1.0, 2.0), doc="irreducible loss"),
              *KaplanND.params)
    #: its fit to Hoffmann et al.'s runs (data/chinchilla.csv), over their range
    example = {"params": {"E": 1.5047, "N_c": 5.077e8, "D_c": 1.071e10, "alpha_N": 0.23785,
                          "alpha_D": 0.25297},
               "inputs": {"N": (4e7, 1.6e10), "D": (5e9, 5e11)}}

    def _predict(self, X, theta):
        theta = np.asarray(theta, float)
        return theta[..., 0, None] + super()._predict(X, theta[..., 1:])

    def _jacobian(self, X, theta):
        theta = np.asarray(theta, float)
        J = super()._jacobian(X, theta[..., 1:])
        return np.concatenate([np.ones_like(J[..., :1]), J], -1)


@register
class KaplanNS(Law):
    """L(N, S, B) = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S, with S_min = S / (1 + B_crit/B)
    and B_crit = B* / L^(1/alpha_B).

    The loss of a model of N non-embedding parameters after S steps at batch size B (tokens):
    S_min is the number of steps it would have needed at a very large batch, and the critical
    batch size B_crit depends on the loss itself, so L is defined implicitly. It is solved per
    point by a safeguarded Newton iteration on L − g(L) = 0, which has exactly one root because
    g decreases in L; the Jacobian follows from the implicit function theorem.

    Inputs: N (``params``), S (the ``steps`` tag), B (``batch_size``, in tokens).

    Source: Kaplan et al. 2020, eq. (1.6) and (5.2)-(5.4) (alpha_N = 0.077, alpha_S = 0.76,
    N_c = 6.5e13, S_c = 2.1e3, B* = 2.1e8 tokens, alpha_B = 0.21); Su et al. 2024, "Unraveling
    the Mystery of Scaling Laws: Part I".
    """

    name = "kaplan_ns"
    formula = "L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S; S_min = S/(1 + B_crit/B), B_crit = B*/L^(1/alpha_B)"
    source = "Kaplan et al. 2020, eq. (1.6); Su et al. 2024"
    inputs = (N, S, BATCH)
    params = (
        Param("N_c", 0.0, np.inf, log=True, grid=(25.0, 30.0, 35.0), doc="parameter scale"),
        Param("alpha_N", 0.0, 5.0, grid=(0.05, 0.1), doc="parameter exponent"),
        Param("S_c", 0.0, np.inf, log=True, grid=(5.0, 8.0, 11.0), doc="step scale"),
        Param("alpha_S", 0.0, 5.0, grid=(0.5, 1.0), doc="step exponent"),
        Param("B_star", 0.0, np.inf, log=True, grid=(15.0, 20.0, 25.0),
              doc="critical batch size (tokens) at loss 1"),
        Param("alpha_B", 1e-3, 5.0, grid=(0.2, 0.4), doc="critical batch exponent"),
    )
    example = {"params": {"N_c": 6.5e13, "alpha_N": 0.077, "S_c": 2.1e3, "alpha_S": 0.76,
                          "B_star": 2.1e8, "alpha_B": 0.21},
               "inputs": {"N": (1e6, 1e9), "S": (1e3, 1e5), "B": (3e4, 1e7)}}

    @staticmethod
    def _unpack(theta):
        return tuple(t[..., None] for t in np.moveaxis(np.asarray(theta, float), -1, 0))

    def _solve(self, X, theta):
        Nc, aN, Sc, aS, Bs, aB = self._unpack(theta)
        P = np.exp(aN * (np.log(Nc) - np.log(X["N"])))
        Q0 = np.exp(aS * (np.log(Sc) - np.log(X["S"])))
        r = Bs / X["B"]

        def g_and_slope(L):
            q = r * np.exp(-np.log(L) / aB)
            t = (1.0 + q) ** aS
            return P + Q0 * t, -Q0 * aS * t / (1.0 + q) * q / (aB * L), q

        # the root lies in [P + Q0, g(P + Q0)] because g decreases in L
        lo = np.broadcast_to(P + Q0, np.broadcast_shapes(P.shape, Q0.shape, r.shape)).copy()
        hi = g_and_slope(lo)[0]
        L = lo.copy()
        for _ in range(100):
            g, dg, _ = g_and_slope(L)
            h = L - g
            lo = np.where(h < 0, L, lo)
            hi = np.where(h > 0, L, hi)
            step = h / (1.0 - dg)
            new = L - step
            bad = (new <= lo) | (new >= hi) | ~np.isfinite(new)
            new = np.where(bad, 0.5 * (lo + hi), new)
            done = np.abs(new - L) <= 1e-15 * np.abs(L)
            L = new
            if np.all(done):
                break
        return L, (Nc, aN, Sc, aS, Bs, aB, P, Q0, r)

    def _predict(self, X, theta):
        return self._solve(X, theta)[0]

    def _jacobian(self, X, theta):
        L, (Nc, aN, Sc, aS, Bs, aB, P, Q0, r) = self._solve(X, theta)
        q = r * np.exp(-np.log(L) / aB)
        t = (1.0 + q) ** aS
        tq = Q0 * aS * t / (1.0 + q) * q  # d(Q0 (1+q)^aS)/d log q
        dgdL = -tq / (aB * L)
        cols = [
            aN * P / Nc,
            P * (np.log(Nc) - np.log(X["N"])),
            aS * Q0 * t / Sc,
            Q0 * t * (np.log(Sc) - np.log(X["S"]) + np.log1p(q)),
            tq / Bs,
            tq * np.log(L) / aB ** 2,
        ]
        denom = 1.0 - dgdL
        return np.stack([np.broadcast_to(c / denom, L.shape) for c in cols], -1)
