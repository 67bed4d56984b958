"""Encoder-decoder scaling for neural machine translation (Ghorbani et al. 2021)."""

from __future__ import annotations

import numpy as np

from scalefit.laws.base import Input, Law, Param, register

NE = Input("Ne", "encoder parameters", tag="encoder_params")
ND = Input("Nd", "decoder parameters", tag="decoder_params")


@register
class NMT(Law):
    """L(Ne, Nd) = alpha · (N̄e/Ne)^pe · (N̄d/Nd)^pd + L_inf.

    The cross-entropy of an encoder-decoder translation model with Ne encoder and Nd decoder
    parameters. N̄e and N̄d are fixed reference sizes, not fitted (with them free the law would
    be over-parametrised: alpha absorbs them); set them with ``nmt:Ne_ref=1e8,Nd_ref=1e8``.
    ``alpha`` and ``L_inf`` enter linearly.

    Inputs come from run tags: Ne from ``encoder_params``, Nd from ``decoder_params``.

    Source: Ghorbani et al. 2021, "Scaling Laws for Neural Machine Translation", eq. (2).
    """

    name = "nmt"
    formula = "L = alpha*(Ne_ref/Ne)^pe*(Nd_ref/Nd)^pd + L_inf"
    source = "Ghorbani et al. 2021 (scaling laws for NMT)"
    inputs = (NE, ND)
    params = (
        Param("alpha", 0.0, np.inf, log=True, grid=(-1.0, 0.0, 1.0), linear=True,
              doc="reducible loss at the reference sizes"),
        Param("pe", 0.0, 5.0, grid=(0.1, 0.3, 0.6), doc="encoder exponent"),
        Param("pd", 0.0, 5.0, grid=(0.1, 0.3, 0.6), doc="decoder exponent"),
        Param("L_inf", 0.0, np.inf, log=True, grid=(-1.0, 0.0, 1.0), linear=True,
              doc="irreducible loss"),
    )
    example = {"params": {"alpha": 0.6, "pe": 0.25, "pd": 0.35, "L_inf": 1.2},
               "inputs": {"Ne": (3e7, 3e9), "Nd": (3e7, 3e9)}}

    def __init__(self, Ne_ref: float = 1e8, Nd_ref: float = 1e8):
        self.Ne_ref, self.Nd_ref = float(Ne_ref), float(Nd_ref)

    def options(self) -> dict:
        """The reference sizes ``Ne_ref`` and ``Nd_ref`` (parameters)."""
        return {"Ne_ref": self.Ne_ref, "Nd_ref": self.Nd_ref}

    def _logs(self, X):
        return np.log(X["Ne"] / self.Ne_ref), np.log(X["Nd"] / self.Nd_ref)

    def _term(self, X, pe, pd):
        le, ld = self._logs(X)
        return np.exp(-np.multiply.outer(np.asarray(pe, float), le)
                      - np.multiply.outer(np.asarray(pd, float), ld))

    def _predict(self, X, theta):
        a, pe, pd, Linf = np.moveaxis(np.asarray(theta, float), -1, 0)
        return a[..., None] * self._term(X, pe, pd) + Linf[..., None]

    def _jacobian(self, X, theta):
        a, pe, pd, Linf = np.moveaxis(np.asarray(theta, float), -1, 0)
        T = self._term(X, pe, pd)
        le, ld = self._logs(X)
        aT = a[..., None] * T
        return np.stack([T, -aT * le, -aT * ld, np.ones_like(T)], -1)

    def linear_basis(self, X, nonlinear):
        """Basis for ``alpha`` and ``L_inf``: ``(Ne_ref/Ne)^pe * (Nd_ref/Nd)^pd`` and ones."""
        pe, pd = np.moveaxis(np.asarray(nonlinear, float), -1, 0)
        T = self._term(X, pe, pd)
        return np.stack([T, np.ones_like(T)], -1)
