"""Synthetic data shared by several test modules."""

from __future__ import annotations


def chinchilla_table(n: int, noise: float, *, seed: int = 0, run_names: bool = False):
    """``n`` synthetic runs of the Chinchilla law at Epoch's parameters (rounded), with
    log-normal noise ``noise``: columns N, D, loss (and run)."""
    import numpy as np
    import pandas as pd

    from scalefit.laws import get_law

    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(4e7), np.log(1.6e10), n))
    D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n))
    L = get_law("chinchilla").predict({"N": N, "D": D}, truth) * np.exp(rng.normal(0, noise, n))
    df = pd.DataFrame({"N": N, "D": D, "loss": L})
    if run_names:
        df.insert(0, "run", [f"r{i}" for i in range(n)])
    return df
