"""Task accuracy as a sigmoid of a task loss (Bhagia et al. 2024, model ladders, step 2)."""

from __future__ import annotations

import numpy as np

from scalefit.laws.base import Input, Law, Param, register

#: the task loss the accuracy is read from (bits per byte of the correct answer, by default)
L = Input("L", "task loss (e.g. bits per byte of the correct continuation)")


@register
class TaskSigmoid(Law):
    """acc = a / (1 + exp(−k·(L − L0))) + b.

    Accuracy falls from ``b`` (reached as the task loss goes to zero) to ``a + b`` (chance level,
    reached at large loss) around the loss ``L0``, with steepness ``k``. Hence ``a <= 0`` and
    ``k >= 0``; ``b`` and ``a + b`` are accuracies in [0, 1].

    Bhagia et al. fit it by least squares on every checkpoint of the ladder runs (after the
    first 10%, with a 5-point moving average) plus one anchor point (L = 0, acc = 1); see
    :func:`scalefit.tasks.fit_step2`.

    Source: Bhagia et al. 2024, "Establishing Task Scaling Laws via Compute-Efficient Model
    Ladders", arXiv:2412.04403, eq. (2); bounds as in allenai/OLMo-ladder.
    """

    name = "task_sigmoid"
    formula = "acc = a/(1 + exp(-k*(L - L0))) + b"
    source = "Bhagia et al. 2024 (model ladders, step 2)"
    inputs = (L,)
    output = "accuracy"
    kind = "task"
    params = (
        Param("a", -1.0, 0.0, grid=(-0.75, -0.5), linear=True,
              doc="amplitude: floor minus ceiling accuracy"),
        Param("k", 0.0, 100.0, grid=(1.0, 3.0, 10.0), doc="steepness (per unit of loss)"),
        Param("L0", 0.0, 20.0, grid=(0.5, 0.9, 1.5), doc="loss at the midpoint"),
        Param("b", 0.0, 1.0, grid=(0.8, 1.0), linear=True, doc="accuracy at zero loss"),
    )
    #: parameters of a typical fit (MMLU on the OLMo ladder), for examples and tests
    example = {"params": {"a": -0.74, "k": 4.8, "L0": 0.62, "b": 0.98},
               "inputs": {"L": (0.2, 2.0)}}

    @staticmethod
    def _sig(X, k, L0):
        z = -np.asarray(k, float)[..., None] * (X["L"] - np.asarray(L0, float)[..., None])
        # 1/(1+e^z) written without overflow for large |z|
        return 0.5 * (1.0 - np.tanh(0.5 * z))

    def _predict(self, X, theta):
        a, k, L0, b = np.moveaxis(np.asarray(theta, float), -1, 0)
        return a[..., None] * self._sig(X, k, L0) + b[..., None]

    def _jacobian(self, X, theta):
        a, k, L0, b = np.moveaxis(np.asarray(theta, float), -1, 0)
        s = self._sig(X, k, L0)
        ds = s * (1.0 - s)  # d sigma / d(k (L - L0))
        dL = X["L"] - L0[..., None]
        return np.stack([s, a[..., None] * ds * dL, -a[..., None] * ds * k[..., None],
                         np.ones_like(s)], -1)

    def linear_basis(self, X, nonlinear):
        """Basis for ``a`` and ``b``: the sigmoid ``1/(1 + exp(-k(L - L0)))`` and ones."""
        k, L0 = np.moveaxis(np.asarray(nonlinear, float), -1, 0)
        s = self._sig(X, k, L0)
        return np.stack([s, np.ones_like(s)], -1)
