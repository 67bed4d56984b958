"""Chinchilla's law with one exponent for parameters and data: the over-training law.

Gadre et al. 2024 ("Language models scale reliably with over-training and on downstream tasks",
eq. 4) write it in compute C = 6·N·D and the token multiplier M = D/N:

    L(C, M) = E + (a·M^eta + b·M^-eta)·C^-eta

which is Chinchilla's form E + A/N^alpha + B/D^beta with alpha = beta = 2·eta, a = A·6^eta and
b = B·6^eta. Tying the exponents matters when runs sample data over a much wider range of
tokens per parameter than they sample size: a free fit then sets the N exponent from the few
sizes and under-predicts larger models.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalefit.laws.base import D, Law, N, Param, register
from scalefit.laws.chinchilla import AB_GRID, E_GRID, EXP_GRID, Chinchilla

_CHINCHILLA = Chinchilla()


@register
class Overtrain(Law):
    """L(N, D) = E + A / N^alpha + B / D^alpha (one exponent for N and D).

    Compute-optimal allocation under C = 6·N·D: N_opt = G·(C/6)^(1/2), D_opt = (C/6)^(1/2)/G,
    G = (A/B)^(1/(2·alpha)); the compute-optimal tokens per parameter M_opt = (B/A)^(1/alpha)
    does not depend on the budget. ``eta`` = alpha/2 is the compute exponent of Gadre et al.,
    ``a_ot``, ``b_ot`` their amplitudes (a = A·6^eta, b = B·6^eta).
    """

    name = "overtrain"
    formula = "L = E + A/N^alpha + B/D^alpha"
    source = ("Gadre et al. 2024, 'Language models scale reliably with over-training and on "
              "downstream tasks', eq. 4 (Chinchilla's form with alpha = beta)")
    inputs = (N, D)
    params = (
        Param("E", 0.0, np.inf, log=True, grid=E_GRID, linear=True, doc="irreducible loss"),
        Param("A", 0.0, np.inf, log=True, grid=AB_GRID, linear=True, doc="parameter-term amplitude"),
        Param("B", 0.0, np.inf, log=True, grid=AB_GRID, linear=True, doc="data-term amplitude"),
        Param("alpha", 0.0, 5.0, grid=EXP_GRID, doc="exponent of N and of D"),
    )
    example = {"params": {"E": 1.85, "A": 500.0, "B": 1500.0, "alpha": 0.35},
               "inputs": {"N": (1e7, 1e10), "D": (2e8, 4e11)}}

    # The kernels are Chinchilla's with beta = alpha: one place computes the law.
    @staticmethod
    def _as_chinchilla(theta) -> np.ndarray:
        t = np.asarray(theta, float)
        return np.concatenate([t, t[..., 3:4]], axis=-1)  # (E, A, B, alpha, alpha)

    def _predict(self, X, theta):
        return _CHINCHILLA._predict(X, self._as_chinchilla(theta))

    def _jacobian(self, X, theta):
        J = _CHINCHILLA._jacobian(X, self._as_chinchilla(theta))
        # d/d alpha moves both exponents: the sum of Chinchilla's alpha and beta columns
        return np.concatenate([J[..., :3], J[..., 3:4] + J[..., 4:5]], axis=-1)

    def linear_basis(self, X, nonlinear):
        """Chinchilla's basis with ``beta = alpha``: ones, ``N^-alpha`` and ``D^-alpha``."""
        a = np.asarray(nonlinear, float)
        return _CHINCHILLA.linear_basis(X, np.concatenate([a, a], axis=-1))

    def derived(self, params: Mapping[str, float]) -> dict[str, float]:
        """Allocation exponents ``a = b = 1/2``, ``G``, the compute-optimal tokens per parameter
        ``M_opt``, and Gadre et al.'s ``eta``, ``a_ot``, ``b_ot``; inf or NaN where undefined
        (``alpha = 0``)."""
        A, B, alpha = (np.asarray(params[k], float) for k in ("A", "B", "alpha"))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            G = (A / B) ** (1.0 / (2.0 * alpha))
            m_opt = (B / A) ** (1.0 / alpha)
            eta = alpha / 2.0
            scale = 6.0 ** eta
        return {"a": 0.5 + 0.0 * alpha, "b": 0.5 + 0.0 * alpha, "G": G, "M_opt": m_opt,
                "eta": eta, "a_ot": A * scale, "b_ot": B * scale}

    def optimal(self, params: Mapping[str, float], C):
        """Compute-optimal ``N``, ``D`` (each growing as sqrt(C)) and the loss there at compute
        ``C`` (FLOPs), under C = 6·N·D."""
        d = self.derived(params)
        C = np.asarray(C, dtype=float)
        n_opt = d["G"] * np.sqrt(C / 6.0)
        d_opt = np.sqrt(C / 6.0) / d["G"]
        loss = self._predict({"N": np.atleast_1d(n_opt), "D": np.atleast_1d(d_opt)},
                             np.array([params[p] for p in self.param_names]))
        return {"N": n_opt, "D": d_opt, "loss": loss.reshape(np.shape(C))}

    def tokens_per_param_loss(self, params: Mapping[str, float], C, M):
        """Loss at compute ``C`` and token multiplier ``M`` = D/N (Gadre et al.'s L(C, M))."""
        C, M = np.asarray(C, float), np.asarray(M, float)
        n = np.sqrt(C / (6.0 * M))
        return self.predict({"N": np.atleast_1d(n), "D": np.atleast_1d(n * M)}, params)
