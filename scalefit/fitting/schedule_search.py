"""Schedule search: the LR schedule that a fitted curve law predicts to end lowest."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from scalefit.curves.data import Curve
from scalefit.errors import UsageError
from scalefit.schedules import Schedule, array_schedule, parse_schedule

__all__ = ["final_loss", "search_free_form", "search_wsd"]


def final_loss(result, eta: np.ndarray, N: float | None = None) -> float:
    """Predicted loss at the last step of the per-step LR ``eta``."""
    eta = np.asarray(eta, dtype=float)
    c = Curve("search", eta, np.array([eta.size - 1]), None, N)
    return float(result.law_obj.predict(c, result.params)[0])


def search_wsd(result, *, steps: int, peak: float, warmup: int = 0,
               fractions=(0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0),
               shapes=("linear", "cosine", "1-sqrt", "exp"),
               finals=(0.0, 0.01, 0.03, 0.1, 0.3), N: float | None = None) -> list[dict]:
    """Grid over WSD decay fraction, shape and final LR (as a fraction of the peak).

    Returns the grid sorted by predicted final loss (best first), each row with its spec.
    """
    if steps <= warmup + 1:
        raise UsageError("steps must exceed the warmup", where="--steps")
    rows = []
    for frac in fractions:
        for shape in shapes:
            for fin in finals:
                if shape == "exp" and fin == 0:
                    continue
                sch = parse_schedule({"family": "wsd", "peak": peak, "warmup": warmup,
                                      "steps": steps, "decay": frac, "final": float(f"{fin * peak:.12g}"),
                                      "shape": shape})
                rows.append({"spec": sch.to_spec(), "decay": frac, "shape": shape,
                             "final": fin * peak,
                             "loss": final_loss(result, sch.lr(), N)})
    rows.sort(key=lambda r: r["loss"])
    return rows


def search_free_form(result, *, steps: int, peak: float, warmup: int = 0, knots: int = 32,
                     N: float | None = None, maxiter: int = 60) -> tuple[Schedule, float]:
    """Monotone non-increasing schedule after warmup minimising the predicted final loss.

    As in Luo et al. 2025 the LR of every step is free, under monotonicity; here it is
    piecewise linear on ``knots`` points, each a fraction of the previous one (a sigmoid of a
    free variable), optimised with L-BFGS-B from a WSD start.
    """
    if steps <= warmup + knots:
        raise UsageError("steps must exceed warmup + knots", where="--steps")
    t = np.arange(steps, dtype=float)
    at = np.linspace(warmup, steps - 1, knots)
    warm = np.where(t < warmup, peak * t / max(warmup, 1), 0.0)

    def eta_of(z):
        ratio = 1.0 / (1.0 + np.exp(-z))
        vals = peak * np.cumprod(np.r_[1.0, ratio])
        e = np.interp(t, at, vals)
        return np.where(t < warmup, warm, e)

    def f(z):
        return final_loss(result, eta_of(z), N)

    z0 = np.full(knots - 1, 8.0)  # nearly constant ...
    z0[-max(2, knots // 5):] = 0.0  # ... with a final decay
    r = minimize(f, z0, method="L-BFGS-B", bounds=[(-12, 12)] * z0.size,
                 options={"maxiter": maxiter, "eps": 1e-4})
    eta = eta_of(r.x)
    return array_schedule(eta), float(r.fun)
