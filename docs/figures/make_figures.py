"""Render the figures in docs/figures/ from the data shipped in data/.

    python docs/figures/make_figures.py

Each CLI figure is made by the `scalefit` command printed before it (run from the repository
root); the loss-curve figure uses the Python API, reading the curves as the multi-power paper
does (``scalefit.curves.multipower_curves``).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
DPI = 110  # a small PNG, still sharp on screen

COMMANDS = [
    # Chinchilla's law on Epoch's 240 runs: 70B/1.4T and a 1e24 budget, backtest on held-out sizes
    ["fit", "data/chinchilla.csv", "--law", "chinchilla", "--bootstrap", "200", "--seed", "0",
     "--predict", "N=70e9,D=1.4e12", "--optimal", "1e24",
     "--plot", "docs/figures/chinchilla_forecast.png"],
    # the CPU ladder store: logged FLOPs on the axis, held-out sizes against their own predictions
    ["fit", "--store", "data/ladder-cpu-tiny", "--law", "chinchilla", "--metric", "val/loss",
     "--bootstrap", "200", "--seed", "0", "--plot", "docs/figures/ladder_cpu_tiny_forecast.png"],
    # Porian et al. 2024 IsoFLOP profiles (tuned hyperparameters, RefinedWeb, 12 budgets)
    ["isoflop", "data/porian2024/isoflop_tuned_rw.csv",
     "--plot", "docs/figures/porian2024_isoflop.png"],
]


def main() -> int:
    os.chdir(ROOT)
    from scalefit.cli import run

    for args in COMMANDS:
        print("$ scalefit " + " ".join(shlex.quote(a) for a in args), flush=True)
        if run(args) != 0:
            return 1
    # multi-power law fitted to three 400M curves (top row), predicting three others
    from scalefit.curves import fit_curves, multipower_curves
    from scalefit.curves.plot import plot_curves

    folder = ROOT / "data" / "multipower" / "400M"
    train = ["cosine_24000", "constant_24000", "wsdcon_9"]
    test = ["wsd_20000_24000", "cosine_72000", "wsdcon_3"]
    res = fit_curves(multipower_curves(folder, train), "multi_power")
    path = OUT / "multipower_400m_curves.png"
    fig = plot_curves(res, multipower_curves(folder, train + test))
    fig.savefig(path, dpi=DPI, metadata={"Software": "scalefit"})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
