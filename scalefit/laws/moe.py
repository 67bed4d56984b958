"""Routed (mixture-of-experts) language models (Clark et al. 2022)."""

from __future__ import annotations

import numpy as np

from scalefit.laws.base import Input, Law, N, Param, register

EXPERTS = Input("E", "number of experts (1 for a dense model)", tag="experts")


@register
class MoE(Law):
    """log L(N, E) = a·log N + b·log Ê + c·log N·log Ê + d  (natural logarithms),

    with the saturating expert count Ê = 1 / (1/(E − 1 + (1/E_start − 1/E_max)^(−1)) + 1/E_max),
    which grows like E for few experts and saturates at E_max. N is the dense (base) model's
    parameter count, E the number of experts. E_start and E_max are fixed options
    (``moe:E_start=1.85,E_max=314``; the defaults are close to the paper's S-BASE fit); the fit is
    linear in a, b, c, d on log L, so every start converges to the same optimum.

    Inputs: N (``params``), E (the ``experts`` tag).

    Source: Clark et al. 2022, "Unified Scaling Laws for Routed Language Models", eq. (1)-(2)
    and (9).
    """

    name = "moe"
    formula = "log L = a*log N + b*log Ehat + c*log N*log Ehat + d"
    source = "Clark et al. 2022 (unified scaling laws for routed language models)"
    inputs = (N, EXPERTS)
    params = (
        Param("a", -2.0, 2.0, grid=(-0.2, -0.05), doc="parameter exponent"),
        Param("b", -2.0, 2.0, grid=(-0.2, -0.05), doc="expert exponent"),
        Param("c", -1.0, 1.0, grid=(0.0,), doc="interaction"),
        Param("d", -20.0, 20.0, grid=(1.0, 2.0, 3.0), doc="offset (log loss at N = Ê = 1)"),
    )
    example = {"params": {"a": -0.08, "b": -0.1, "c": 0.004, "d": 2.5},
               "inputs": {"N": (1e7, 1e10), "E": (1.0, 512.0)}}

    def __init__(self, E_start: float = 1.85, E_max: float = 314.0):
        self.E_start, self.E_max = float(E_start), float(E_max)

    def options(self) -> dict:
        """``E_start`` and ``E_max`` of the saturating expert-count transform."""
        return {"E_start": self.E_start, "E_max": self.E_max}

    def e_hat(self, E) -> np.ndarray:
        """The saturating transform Ê of the expert count."""
        E = np.asarray(E, dtype=float)
        k = 1.0 / (1.0 / self.E_start - 1.0 / self.E_max)
        return 1.0 / (1.0 / (E - 1.0 + k) + 1.0 / self.E_max)

    def _feats(self, X):
        lN, lE = np.log(X["N"]), np.log(self.e_hat(X["E"]))
        return np.stack([lN, lE, lN * lE, np.ones_like(lN)], -1)  # (n, 4)

    def _predict(self, X, theta):
        return np.exp(np.asarray(theta, float) @ self._feats(X).T)

    def _jacobian(self, X, theta):
        F = self._feats(X)
        L = np.exp(np.asarray(theta, float) @ F.T)
        return L[..., None] * F
