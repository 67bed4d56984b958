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


def test_curve_figure_draws_into_given_axes():
    import matplotlib.pyplot as plt

    from scalefit.curves import CurveFitResult
    from scalefit.curves.data import multipower_curves
    from scalefit.curves.plot import plot_curves

    root = Path(__file__).resolve().parents[1] / "data" / "multipower" / "400M"
    curves = multipower_curves(root, ["wsdcon_3", "cosine_72000"])
    # the published 400M multi-power parameters
    res = CurveFitResult(law="multi_power", params={
        "L0": 2.3747, "A": 0.6542, "alpha": 0.4288, "B": 523.42, "C": 2.0246, "beta": 0.5935,
        "gamma": 0.6347}, objective=0.0, n_points=0)
    fig, axes = plt.subplots(1, 2)
    out = plot_curves(res, list(curves), axes=axes, lr_panel=False)
    assert out is fig
    for ax, c in zip(axes, curves, strict=True):
        pred = next(ln for ln in ax.get_lines() if ln.get_label() == "predicted")
        assert matplotlib.colors.to_hex(pred.get_color()) == plot.PALETTE["vermillion"].lower()
        assert np.allclose(pred.get_ydata(), res.predict(c)["loss_pred"])
    plt.close("all")
