"""Loss-to-loss law: one dataset's loss as a shifted power law of another's
(Brandfonbrener et al. 2024, "Loss-to-Loss Prediction: Scaling Laws for All Datasets").
"""

from __future__ import annotations

import numpy as np

from scalefit.laws.base import Input, Law, Param, register

#: the loss on the source dataset (the one the prediction starts from)
LX = Input("Lx", "loss on the source dataset (nats or bits, as logged)")

_TINY = 1e-12


@register
class LossToLoss(Law):
    """L_y = K · (L_x − E_x)^kappa + E_y.

    ``E_x`` and ``E_y`` are the irreducible losses of the two datasets; ``K`` and ``kappa`` map
    the reducible part of one onto the other. The paper fits it in three pairings, all of which
    use this same form; they differ only in how the (L_x, L_y) pairs are formed (see
    :func:`scalefit.tasks.pair_losses`):

    * train-to-train: two models trained on different data, paired by equal compute (or equal
      N and D), each evaluated on its own training distribution;
    * train-to-test: one model, its training loss against its loss on a test set;
    * test-to-test: one model, its losses on two test sets.

    Where ``L_x <= E_x`` the base is clipped to a tiny positive number, so the prediction stays
    finite; a fit keeps ``E_x`` below the smallest observed ``L_x``.

    Source: Brandfonbrener, Anand, Vyas, Malach, Kakade 2024, arXiv:2411.12925, eq. (1)-(3).
    """

    name = "loss_to_loss"
    formula = "L_y = K*(L_x - E_x)^kappa + E_y"
    source = "Brandfonbrener et al. 2024 (loss-to-loss prediction)"
    inputs = (LX,)
    output = "loss"
    kind = "loss_to_loss"
    params = (
        Param("K", 0.0, np.inf, log=True, grid=(-1.0, 0.0, 1.0), linear=True,
              doc="scale of the reducible part"),
        Param("kappa", 0.0, 10.0, grid=(0.5, 1.0, 1.5, 2.0), doc="exponent"),
        Param("E_x", 0.0, np.inf, grid=(0.0, 0.5, 1.0, 1.5), doc="irreducible loss of the source"),
        Param("E_y", 0.0, np.inf, grid=(0.0, 0.5, 1.0, 1.5), linear=True,
              doc="irreducible loss of the target"),
    )
    #: parameters of a typical fit (C4 -> Pile losses of a ladder), for examples and tests
    example = {"params": {"K": 0.9, "kappa": 1.2, "E_x": 1.3, "E_y": 1.1},
               "inputs": {"Lx": (1.6, 4.0)}}

    @staticmethod
    def _base(X, Ex):
        return np.maximum(X["Lx"] - np.asarray(Ex, float)[..., None], _TINY)

    def _predict(self, X, theta):
        K, kappa, Ex, Ey = np.moveaxis(np.asarray(theta, float), -1, 0)
        base = self._base(X, Ex)
        return K[..., None] * base ** kappa[..., None] + Ey[..., None]

    def _jacobian(self, X, theta):
        K, kappa, Ex, Ey = np.moveaxis(np.asarray(theta, float), -1, 0)
        base = self._base(X, Ex)
        pw = base ** kappa[..., None]
        dK = pw
        dkappa = K[..., None] * pw * np.log(base)
        dEx = -K[..., None] * kappa[..., None] * base ** (kappa[..., None] - 1.0)
        dEy = np.ones_like(pw)
        return np.stack([dK, dkappa, dEx, dEy], -1)

    def linear_basis(self, X, nonlinear):
        """Basis for ``K`` and ``E_y``: ``(L_x - E_x)^kappa`` and ones."""
        kappa, Ex = np.moveaxis(np.asarray(nonlinear, float), -1, 0)
        pw = self._base(X, Ex) ** kappa[..., None]
        return np.stack([pw, np.ones_like(pw)], -1)
