"""`law="auto"` with and without `chinchilla_prior`, and the textbook recipe, on five IsoFLOP grids
of Porian et al. 2024 that no case of forecast.py uses (RefinedWeb: N counted with the attention
and the train loss, four setups; tuned hyperparameters in the Kaplan-like setup). The forecast
cases' protocol: hold out the two largest sizes, runs with D >= N.

    python benchmarks/unused_grids.py        # about 2 minutes on 2 cores

Prints each grid's mean relative error on its held-out runs and the mean over the grids.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import scalefit
from scalefit.fitting.backtest import AUTO_LAWS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast import hoffmann_grid  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "porian2024" / "isoflop_unused_rw.csv"


def main() -> int:
    grids = pd.read_csv(DATA)
    grids = grids[grids["D"] >= grids["N"]]
    methods = {
        "auto without chinchilla_prior": dict(
            law="auto", candidates=[c for c in AUTO_LAWS if c != "chinchilla_prior"]),
        "auto": dict(law="auto"),
        "textbook": dict(law="chinchilla", objective="huber", delta=1e-3,
                         starts=hoffmann_grid()),
    }
    errs: dict[str, list[float]] = {m: [] for m in methods}
    for config, df in grids.groupby("config", sort=False):
        sizes = np.sort(df["N"].unique())
        held = df["N"] >= sizes[-2]
        train, test = df[~held].drop(columns="config"), df[held]
        y = test["loss"].to_numpy(float)
        row = []
        for name, kw in methods.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = scalefit.fit(train, bootstrap=0, **kw)
                pred = np.ravel(res.predict(N=test["N"].to_numpy(float),
                                            D=test["D"].to_numpy(float)).value)
            errs[name].append(float(np.mean(np.abs(pred - y) / y)))
            row.append(f"{name} {100 * errs[name][-1]:.2f}%")
        print(f"{config:34s} {len(train):3d} / {len(test)}  " + "  ".join(row), flush=True)
    print("mean over grids: " + "  ".join(f"{m} {100 * np.mean(e):.2f}%"
                                           for m, e in errs.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
