"""The forecast of a one-input law is drawn against that input, with its fitted curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

import scalefit  # noqa: E402
from scalefit import plot  # noqa: E402

LADDER = Path(__file__).resolve().parents[1] / "data" / "ladder-cpu-tiny"


def test_power_on_n_is_drawn_against_n():
    res = scalefit.fit(scalefit.Store(LADDER, create=False), law="power", metric="val/loss",
                       bootstrap=20, predict={"N": 1e6})
    ax = plot.forecast(res)
    assert ax.get_xlabel() == "non-embedding parameters N"
    pts = next(c for c in ax.collections if c.get_label().startswith("runs"))
    assert np.allclose(np.sort(pts.get_offsets()[:, 0]), np.sort(res.dataset.X["N"]))
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "power fit")
    x, y = line.get_data()
    assert np.allclose(y, res.predict(N=x).value)
    assert x.min() < res.dataset.X["N"].min() and x.max() > 1e6
    matplotlib.pyplot.close("all")
