"""Optimal hyperparameters: learning rate and batch size (Li et al. 2025, "Step Law")."""

from __future__ import annotations

import numpy as np

from scalefit.errors import UsageError
from scalefit.laws.base import D, Law, N, Param, register


@register
class StepLaw(Law):
    """eta_opt(N, D) = c · N^a · D^b   (``steplaw``, the default ``output=lr``)
    B_opt(D) = k · D^g                (``steplaw:output=batch``, B in tokens).

    The optimal peak learning rate and batch size of a pre-training run with N non-embedding
    parameters and D tokens. One law with an ``output`` option rather than two names, because
    both come from the same sweep and are fitted on the same runs, each to its own column: the
    best LR (``lr_max`` of the best run per (N, D)) or the best batch size (``batch_size``).
    The amplitude (``c`` or ``k``) enters linearly.

    Source: Li et al. 2025, "Predictable Scale: Part I - Optimal Hyperparameter Scaling Law in
    Large Language Model Pretraining", eq. (1)-(2): eta = 1.79·N^(-0.713)·D^(0.307),
    B = 0.58·D^(0.571).
    """

    name = "steplaw"
    source = "Li et al. 2025 (Predictable Scale, Step Law)"

    def __init__(self, output: str = "lr"):
        if output not in ("lr", "batch"):
            raise UsageError(f"law 'steplaw': output={output!r} must be 'lr' or 'batch'",
                             where="law option output", hint="steplaw:output=batch")
        self.which = output
        if output == "lr":
            self.output = "lr"
            self.formula = "eta_opt = c*N^a*D^b"
            self.inputs = (N, D)
            self.params = (
                Param("c", 0.0, np.inf, log=True, grid=(-10.0, -5.0, 0.0, 5.0, 10.0),
                      linear=True, doc="amplitude"),
                Param("a", -3.0, 3.0, grid=(-1.0, -0.5, 0.0), doc="exponent of N"),
                Param("b", -3.0, 3.0, grid=(0.0, 0.3, 0.6), doc="exponent of D"),
            )
            self.example = {"params": {"c": 1.79, "a": -0.713, "b": 0.307},
                            "inputs": {"N": (6e7, 1e10), "D": (2e9, 1e12)}}
        else:
            self.output = "batch_size"
            self.formula = "B_opt = k*D^g"
            self.inputs = (D,)
            self.params = (
                Param("k", 0.0, np.inf, log=True, grid=(-5.0, 0.0, 5.0), linear=True,
                      doc="amplitude (tokens)"),
                Param("g", -2.0, 3.0, grid=(0.2, 0.5, 0.8), doc="exponent of D"),
            )
            self.example = {"params": {"k": 0.58, "g": 0.571}, "inputs": {"D": (2e9, 1e12)}}

    def options(self) -> dict:
        """``output``: ``'lr'`` or ``'batch'``."""
        return {"output": self.which}

    def _logs(self, X):
        if self.which == "lr":
            return np.stack([np.log(X["N"]), np.log(X["D"])], -1)  # (n, 2)
        return np.log(X["D"])[:, None]

    def _predict(self, X, theta):
        theta = np.asarray(theta, float)
        return theta[..., :1] * np.exp(theta[..., 1:] @ self._logs(X).T)

    def _jacobian(self, X, theta):
        theta = np.asarray(theta, float)
        G = self._logs(X)
        pw = np.exp(theta[..., 1:] @ G.T)  # (..., n)
        y = theta[..., :1] * pw
        return np.concatenate([pw[..., None], y[..., None] * G], -1)

    def linear_basis(self, X, nonlinear):
        """Basis for the amplitude ``c`` (or ``k``): ``N^a * D^b`` (or ``D^g``)."""
        return np.exp(np.asarray(nonlinear, float) @ self._logs(X).T)[..., None]
