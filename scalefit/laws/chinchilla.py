"""Chinchilla's parametric loss (Hoffmann et al. 2022, approach 3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from scalefit.laws.base import D, Law, N, Param, register

AB_GRID = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
EXP_GRID = (0.0, 0.5, 1.0, 1.5, 2.0)
E_GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)


@register
class Chinchilla(Law):
    """L(N, D) = E + A / N^alpha + B / D^beta.

    Compute-optimal allocation under C = 6·N·D: N_opt = G·(C/6)^a, D_opt = (C/6)^b / G with
    a = beta/(alpha+beta), b = alpha/(alpha+beta), G = (alpha·A / (beta·B))^(1/(alpha+beta)).

    Source: Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. (2) and
    appendix D.2; start grid of their approach 3 (4,500 points, in log space for E, A, B).
    """

    name = "chinchilla"
    formula = "L = E + A/N^alpha + B/D^beta"
    source = "Hoffmann et al. 2022 (approach 3); Besiroglu et al. 2024 (replication)"
    inputs = (N, D)
    params = (
        Param("E", 0.0, np.inf, log=True, grid=E_GRID, linear=True, doc="irreducible loss"),
        Param("A", 0.0, np.inf, log=True, grid=AB_GRID, linear=True, doc="parameter-term amplitude"),
        Param("B", 0.0, np.inf, log=True, grid=AB_GRID, linear=True, doc="data-term amplitude"),
        Param("alpha", 0.0, 5.0, grid=EXP_GRID, doc="parameter exponent"),
        Param("beta", 0.0, 5.0, grid=EXP_GRID, doc="data exponent"),
    )
    #: Epoch's replication fit (Besiroglu et al. 2024) over the range of Hoffmann's runs
    example = {"params": {"E": 1.8172, "A": 477.8, "B": 2143.0, "alpha": 0.3473, "beta": 0.3672},
               "inputs": {"N": (4e7, 1.6e10), "D": (5e9, 5e11)}}

    def _terms(self, X, theta):
        E, A, B, alpha, beta = np.moveaxis(np.asarray(theta, float), -1, 0)
        lN, lD = np.log(X["N"]), np.log(X["D"])
        # (..., n): broadcast parameter batch against points
        pn = np.exp(-np.multiply.outer(alpha, lN))
        pd = np.exp(-np.multiply.outer(beta, lD))
        return E, A, B, pn, pd, lN, lD

    def _predict(self, X, theta):
        E, A, B, pn, pd, _, _ = self._terms(X, theta)
        return E[..., None] + A[..., None] * pn + B[..., None] * pd

    def _jacobian(self, X, theta):
        E, A, B, pn, pd, lN, lD = self._terms(X, theta)
        ones = np.ones_like(pn)
        return np.stack([ones, pn, pd, -A[..., None] * pn * lN, -B[..., None] * pd * lD], -1)

    def linear_basis(self, X, nonlinear):
        """Basis for ``E``, ``A``, ``B``: ones, ``N^-alpha`` and ``D^-beta``."""
        alpha, beta = np.moveaxis(np.asarray(nonlinear, float), -1, 0)
        pn = np.exp(-np.multiply.outer(alpha, np.log(X["N"])))
        pd = np.exp(-np.multiply.outer(beta, np.log(X["D"])))
        return np.stack([np.ones_like(pn), pn, pd], -1)

    def derived(self, params: Mapping[str, float]) -> dict[str, float]:
        """a, b and G; NaN where they are undefined (exponents summing to 0, as in a fit to
        losses that rise with size, or a zero exponent or amplitude in G)."""
        A, B, alpha, beta = (np.asarray(params[k], float) for k in ("A", "B", "alpha", "beta"))
        with np.errstate(all="ignore"):
            s = alpha + beta
            ok = np.isfinite(s) & (s > 0)
            s1 = np.where(ok, s, 1.0)
            ratio = alpha * A / (beta * B)
            gok = ok & np.isfinite(ratio) & (ratio > 0)
            out = {"a": np.where(ok, beta / s1, np.nan), "b": np.where(ok, alpha / s1, np.nan),
                   "G": np.where(gok, np.where(gok, ratio, 1.0) ** (1.0 / s1), np.nan)}
        return {k: float(v) if np.ndim(v) == 0 else v for k, v in out.items()}

    def optimal(self, params: Mapping[str, float], C):
        """Compute-optimal ``N``, ``D`` and the loss there at compute ``C`` (FLOPs), under
        C = 6·N·D."""
        d = self.derived(params)
        C = np.asarray(C, dtype=float)
        n_opt = d["G"] * (C / 6.0) ** d["a"]
        d_opt = (C / 6.0) ** d["b"] / d["G"]
        loss = self._predict({"N": np.atleast_1d(n_opt), "D": np.atleast_1d(d_opt)},
                             np.array([params[p] for p in self.param_names]))
        return {"N": n_opt, "D": d_opt, "loss": loss.reshape(np.shape(C))}


#: centre and width of the exponents' prior in ``chinchilla_prior``. The centre is the mean of
#: the four published fits of Chinchilla's form to Hoffmann et al.'s runs (alpha 0.34, beta
#: 0.28: Hoffmann et al. 2022; 0.35, 0.37: Besiroglu et al. 2024); the width, 0.5, lets an
#: exponent move 0.5 from it at the cost of a 1% error at every point (see ``Param.prior``).
EXPONENT_PRIOR = (0.33, 0.5)


@register
class ChinchillaPrior(Chinchilla):
    """Chinchilla's law, fitted with its exponents pulled towards the published ones.

    The same L(N, D) = E + A / N^alpha + B / D^beta, but the fit pays for exponents far from
    :data:`EXPONENT_PRIOR` (a ridge penalty, as a Gaussian prior on alpha and beta in a MAP
    fit). Runs that span a few model sizes, or sizes the law's asymptotics have not reached,
    leave the exponents of a free fit barely determined: it trades alpha against E and A
    along a valley of near-equal fits and extrapolates wherever the noise puts it. The prior
    picks the point of that valley nearest the published exponents. It does so even where the
    data would pin an exponent given enough precision (0.45 came back as 0.40 from 80 runs at
    0.1% noise, tests/test_fit_prior.py): a forecasting device, not an estimator of exponents.
    Bootstrap intervals refit with the prior; delta-method errors leave it out (wider).
    """

    name = "chinchilla_prior"
    source = ("Hoffmann et al. 2022 (approach 3), with a prior on the exponents centred on "
              "their and Besiroglu et al. 2024's fits")
    # Chinchilla's declarations, the exponents with the prior
    params = tuple(replace(p, prior=EXPONENT_PRIOR) if p.name in ("alpha", "beta") else p
                   for p in Chinchilla.params)
