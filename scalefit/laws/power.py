"""A power law plus a constant in one size variable (Henighan et al. 2020)."""

from __future__ import annotations

import numpy as np

from scalefit.laws.base import Law, Param, register, size_input

_E_GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)
_A_GRID = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
_ALPHA_GRID = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)

#: typical parameters and ranges per size variable (losses in nats)
_EXAMPLES = {
    "N": {"params": {"E": 1.8, "A": 400.0, "alpha": 0.34}, "inputs": {"N": (1e7, 1e10)}},
    "D": {"params": {"E": 1.8, "A": 2000.0, "alpha": 0.37}, "inputs": {"D": (1e9, 1e12)}},
    "C": {"params": {"E": 1.7, "A": 500.0, "alpha": 0.15}, "inputs": {"C": (1e17, 1e22)}},
    "S": {"params": {"E": 2.0, "A": 30.0, "alpha": 0.5}, "inputs": {"S": (1e2, 1e5)}},
}


@register
class Power(Law):
    """L(x) = E + A · x^(−alpha), with x one of N, D, C or S (option ``power:x=C``).

    The "power law plus constant" that Henighan et al. fit to every modality: ``E`` is the
    irreducible loss, ``A·x^(−alpha)`` the reducible part. ``E`` and ``A`` enter linearly.

    Source: Henighan et al. 2020, "Scaling Laws for Autoregressive Generative Modeling", eq. (1.1).
    """

    name = "power"
    formula = "L = E + A*x^(-alpha)"
    source = "Henighan et al. 2020 (power law plus constant)"
    params = (
        Param("E", 0.0, np.inf, log=True, grid=_E_GRID, linear=True, doc="irreducible loss"),
        Param("A", 0.0, np.inf, log=True, grid=_A_GRID, linear=True, doc="amplitude"),
        Param("alpha", 0.0, 5.0, grid=_ALPHA_GRID, doc="exponent"),
    )

    def __init__(self, x: str = "N"):
        self.x = str(x)
        self.inputs = (size_input(self.x, self.name),)
        self.formula = f"L = E + A*{self.x}^(-alpha)"
        self.example = _EXAMPLES[self.x]

    def options(self) -> dict:
        """``x``, the size variable (N, D, C or S)."""
        return {"x": self.x}

    def _pw(self, X, alpha):
        return np.exp(-np.multiply.outer(np.asarray(alpha, float), np.log(X[self.x])))

    def _predict(self, X, theta):
        E, A, alpha = np.moveaxis(np.asarray(theta, float), -1, 0)
        return E[..., None] + A[..., None] * self._pw(X, alpha)

    def _jacobian(self, X, theta):
        E, A, alpha = np.moveaxis(np.asarray(theta, float), -1, 0)
        pw = self._pw(X, alpha)
        return np.stack([np.ones_like(pw), pw, -A[..., None] * pw * np.log(X[self.x])], -1)

    def linear_basis(self, X, nonlinear):
        """Basis for ``E`` and ``A``: ones and ``x^-alpha``."""
        pw = self._pw(X, np.asarray(nonlinear, float)[..., 0])
        return np.stack([np.ones_like(pw), pw], -1)
