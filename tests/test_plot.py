"""Figures from the real data in data/: content checked through the Axes, files decoded."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402

import scalefit  # noqa: E402
import scalefit.cli.plot  # noqa: E402, F401  (registers `scalefit plot`)
from scalefit import plot  # noqa: E402
from scalefit.cli import run  # noqa: E402
from scalefit.fitting.isoflop import isoflop as isoflop_fit  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
CHIN = DATA / "chinchilla.csv"
ISO = DATA / "samples" / "final_isoflop.csv"
C70 = 6 * 70e9 * 1.4e12  # Chinchilla: 70B parameters on 1.4T tokens


@pytest.fixture(scope="module")
def chin():
    return scalefit.fit(CHIN, "chinchilla", bootstrap=100, seed=0, holdout="largest:5",
                        predict={"N": 70e9, "D": 1.4e12}, optimal=[1e24])


@pytest.fixture(autouse=True)
def _close_all():
    yield
    plt.close("all")


# ---------------------------------------------------------------------- helpers
def collections(ax, label=None):
    out = [c for c in ax.collections if isinstance(c, PathCollection)]
    return [c for c in out if label is None or c.get_label().startswith(label)]


def line(ax, label):
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert found, (label, [ln.get_label() for ln in ax.get_lines()])
    return found[0]


def band(ax, label):
    found = [c for c in ax.collections if isinstance(c, PolyCollection)
             and c.get_label().startswith(label)]
    assert found, label
    verts = found[0].get_paths()[0].vertices
    return verts[:, 0], verts[:, 1]


def data_xy(ax) -> np.ndarray:
    pts = [c.get_offsets() for c in collections(ax)]
    pts += [np.column_stack(ln.get_data()) for ln in ax.get_lines()
            if len(ln.get_xdata()) and ln.get_transform() == ax.transData]  # not axhline
    xy = np.concatenate([np.asarray(p, float).reshape(-1, 2) for p in pts])
    return xy[np.all(np.isfinite(xy), 1)]


def assert_inside_limits(ax):
    xy = data_xy(ax)
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    assert np.all((xy[:, 0] >= x0) & (xy[:, 0] <= x1)), "data outside the x limits"
    assert np.all((xy[:, 1] >= y0) & (xy[:, 1] <= y1)), "data outside the y limits"


def assert_legend_clear(ax):
    """The legend's box holds none of the data points (in display coordinates)."""
    # the axes' own legend, or the figure's when it sits below the figure
    leg = ax.get_legend() or (ax.figure.legends[0] if ax.figure.legends else None)
    assert leg is not None and leg.get_texts()
    fig = ax.figure
    fig.canvas.draw()
    box = leg.get_window_extent()
    disp = ax.transData.transform(data_xy(ax))
    inside = ((disp[:, 0] >= box.x0) & (disp[:, 0] <= box.x1)
              & (disp[:, 1] >= box.y0) & (disp[:, 1] <= box.y1))
    assert not inside.any(), f"{int(inside.sum())} data points under the legend"


def assert_png(path, fig_size, dpi):
    img = mpimg.imread(path)
    w, h = fig_size
    assert img.shape[:2] == (round(h * dpi), round(w * dpi))
    assert img.shape[2] in (3, 4)
    assert float(img[..., :3].std()) > 0.05  # not a blank canvas


def legend_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ---------------------------------------------------------------------- forecast
@pytest.mark.slow
def test_forecast_of_the_fit_command_shows_points_frontier_band_and_70b(tmp_path, monkeypatch):
    """`scalefit fit data/chinchilla.csv --predict N=70B,D=1.4T`: its forecast figure."""
    drawn = []
    real = plot.forecast

    def spy(*a, **k):
        drawn.append(real(*a, **k))
        return drawn[-1]

    monkeypatch.setattr(plot, "forecast", spy)
    png, js = tmp_path / "forecast.png", tmp_path / "fit.json"
    code = run(["fit", str(CHIN), "--predict", "N=70e9,D=1.4e12", "--bootstrap", "100",
                "--json", str(js), "--plot", str(png)])
    assert code == 0 and len(drawn) == 1
    ax = drawn[0]
    res = json.loads(js.read_text())
    # every fitted point: the CSV's 245 runs less the 5 it marks exclude (Epoch's 240), those
    # of the default backtest (whole sizes held out) drawn apart
    pts = collections(ax, "runs")
    held = collections(ax, "held out (size:")
    assert len(pts) == 1 and len(held) == 1
    # one observed marker per backtest point (a run held out in two folds shows twice)
    n_held = len(res["backtest"]["heldout_runs"])
    assert len(held[0].get_offsets()) == len(res["backtest"]["points"]) >= n_held > 0
    assert len(pts[0].get_offsets()) + n_held == res["n_points"] == 240
    df = pd.read_csv(CHIN)
    df = df[df["exclude"] == 0]
    held_xy = np.unique(np.asarray(held[0].get_offsets(), float), axis=0)
    off = np.concatenate([np.asarray(pts[0].get_offsets(), float), held_xy])
    assert np.allclose(np.sort(off[:, 1]), np.sort(df["loss"]), rtol=1e-12)
    assert np.allclose(np.sort(off[:, 0]), np.sort(df["Training FLOP"]), rtol=1e-9)
    # frontier with its bootstrap band around it
    fr = line(ax, "compute-optimal frontier")
    bx, by = band(ax, "95% bootstrap band")
    x, y = fr.get_data()
    lo_hi = np.interp(np.log(x), np.log(bx[: len(x)]), by[: len(x)])
    assert np.all(lo_hi <= y + 1e-12)
    assert x.min() < off[:, 0].min() and x.max() > C70
    # Chinchilla's 70B/1.4T point with its predicted interval
    p = res["predictions"][0]
    assert p["lo"] < p["value"] < p["hi"]
    # 70B / 1.4T lies 0.64 decades beyond the fitted N and about 1.65 beyond the fitted N·D:
    # the calibrated band widens with the larger (about +-3.5%: 1.85% per decade, the average's
    # backtest errors scaled to the 2.45 decades of sizes fitted), and the interval reaches down
    # to the lowest member of the average, Kaplan's form (1.864): [1.864, 2.032]
    assert 1.9 < p["value"] < 2.1 and 0.15 < p["hi"] - p["lo"] < 0.21
    assert p["lo"] == pytest.approx(min(p["members"].values()), rel=1e-9)
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert len(stars) == 1
    sx, sy = stars[0].get_data()
    assert sx[0] == pytest.approx(C70) and sy[0] == pytest.approx(p["value"])
    segs = [s for c in ax.collections if c.get_label() != "_nolegend_" or True
            for s in getattr(c, "get_segments", lambda: [])()]
    bars = [s for s in segs if np.allclose(s[:, 0], C70)]
    assert bars and np.allclose(sorted(bars[0][:, 1]), [p["lo"], p["hi"]])
    assert "prediction (95% interval)" in legend_labels(ax)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    err_ax = ax.heldout_ax
    assert "FLOPs" in err_ax.get_xlabel() and "nats/token" in ax.get_ylabel()
    assert_inside_limits(ax)
    assert_legend_clear(ax)
    w, h = ax.figure.get_size_inches()
    assert_png(png, (w, h), 150)


def test_forecast_of_epochs_240_points(chin):
    df = pd.read_csv(CHIN).sort_values("loss", kind="stable").iloc[:-5]
    df = df.assign(N=df["Model Size"], D=df["Training FLOP"] / (6 * df["Model Size"]))
    res = scalefit.fit(df[["N", "D", "loss"]], "chinchilla", bootstrap=0,
                       predict={"N": 70e9, "D": 1.4e12})
    ax = plot.forecast(res)
    assert len(collections(ax, "runs")[0].get_offsets()) == 240
    assert "95% band" not in legend_labels(ax)  # no bootstrap, no band label
    assert line(ax, "compute-optimal frontier")


# ---------------------------------------------------------------------- isoflop
def test_isoflop_profiles_on_refinedweb_points(tmp_path):
    df = pd.read_csv(ISO)
    ax = plot.isoflop(ISO)
    iso = isoflop_fit(C=df["flops"], N=df["n"], loss=df["loss"])
    budgets = sorted(df["flops"].unique())
    sc = [c for c in collections(ax) if str(c.get_gid()).startswith("C = ")]
    assert len(sc) == len(budgets) == 4
    assert sorted(len(c.get_offsets()) for c in sc) == sorted(df.groupby("flops").size())
    for c, b in zip(sc, budgets, strict=True):
        sub = df[df["flops"] == b]
        assert np.allclose(np.sort(c.get_offsets()[:, 0]), np.sort(sub["n"]))
        assert c.get_gid() == f"C = {b:.3g} FLOPs"
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    m = iso.minima.sort_values("C")
    assert len(stars) == len(m)
    sx = np.array([s.get_xdata()[0] for s in stars])
    sy = np.array([s.get_ydata()[0] for s in stars])
    assert np.allclose(sx, m["N_opt"], rtol=1e-9) and np.allclose(sy, m["loss"], rtol=1e-9)
    # each parabola's lowest point is its star
    curves = [ln for ln in ax.get_lines() if ln.get_marker() in ("None", "") and
              len(ln.get_xdata()) > 10]
    assert len(curves) == 4
    for cv, nopt, lmin in zip(curves, m["N_opt"], m["loss"], strict=True):
        i = int(np.argmin(cv.get_ydata()))
        assert cv.get_ydata()[i] >= lmin - 1e-9
        assert cv.get_xdata()[i] == pytest.approx(nopt, rel=0.1)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "parameters N"
    assert "nats" in ax.get_ylabel()
    assert f"{iso.a:.3f}" in ax.get_title()
    assert_inside_limits(ax)
    assert_legend_clear(ax)
    size = ax.figure.get_size_inches()
    out = plot.save(ax, tmp_path / "iso.png", dpi=100)
    assert_png(out, size, 100)


# ---------------------------------------------------------------------- optimal
def test_compute_optimal_allocation(chin, tmp_path):
    ax = plot.optimal(chin)
    n, d = line(ax, "N_opt (parameters)"), line(ax, "D_opt (tokens)")
    grid = n.get_xdata()
    opt = chin.optimal(grid)
    assert np.allclose(n.get_ydata(), opt["N"]) and np.allclose(d.get_ydata(), opt["D"])
    assert np.allclose(6 * n.get_ydata() * d.get_ydata(), grid, rtol=1e-9)  # C = 6 N D
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    for c in bands:  # the bands hold their line at every budget
        v = c.get_paths()[0].vertices
        assert v[:, 1].min() > 0
    lo, hi = opt["N_lo"], opt["N_hi"]
    assert np.all(lo <= opt["N"]) and np.all(opt["N"] <= hi)
    # the requested 1e24 budget with the N and D intervals of the fit
    rec = next(p for p in chin.predictions if p.get("kind") == "optimal")
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert sorted(s.get_ydata()[0] for s in stars) == pytest.approx(
        sorted([rec["N"]["value"], rec["D"]["value"]]))
    assert all(s.get_xdata()[0] == 1e24 for s in stars)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "FLOPs" in ax.get_xlabel() and "tokens" in ax.get_ylabel()
    assert_inside_limits(ax)
    assert_legend_clear(ax)
    out = plot.save(ax, tmp_path / "opt.svg")
    root = ET.parse(out).getroot()
    w, h = ax.figure.get_size_inches()
    assert root.tag.endswith("svg")
    assert float(root.get("width").removesuffix("pt")) == pytest.approx(72 * w)
    assert float(root.get("height").removesuffix("pt")) == pytest.approx(72 * h)


def test_optimal_with_isoflop_minima():
    df = pd.read_csv(ISO)
    res = scalefit.fit(ISO, "chinchilla", bootstrap=0)
    iso = isoflop_fit(df, C="flops", N="n", loss="loss")
    ax = plot.optimal(res, isoflop_result=iso)
    mins = collections(ax, "IsoFLOP minima (N)")[0].get_offsets()
    assert np.allclose(mins[:, 1], iso.minima["N_opt"][iso.minima["used"]])
    assert_inside_limits(ax)


# ---------------------------------------------------------------------- residuals
def test_residuals_with_backtest(chin, tmp_path):
    ax = plot.residuals(chin)
    ins = collections(ax, "in-sample")[0].get_offsets()
    held = collections(ax, "held-out runs, full fit")[0].get_offsets()
    bt = collections(ax, "held-out runs, backtest")[0].get_offsets()
    assert len(ins) == 235 and len(held) == 5 and len(bt) == 5
    ds = chin.dataset
    law = chin.law_
    r = np.log(ds.y) - np.log(law._predict(law.check_inputs(ds.X), chin._theta()))
    assert np.allclose(np.sort(np.concatenate([ins[:, 1], held[:, 1]])), np.sort(r))
    rms = chin.diagnostics["residuals"]["rms"]
    assert any(f"{rms:.3g}" in t for t in legend_labels(ax))
    # backtest errors: the refit without them predicts worse or equal on average
    assert np.mean(np.abs(bt[:, 1])) == pytest.approx(
        np.mean([abs(np.log(p["value"] / p["pred"])) for p in chin.backtest["points"]]))
    y0, y1 = ax.get_ylim()
    assert y0 == pytest.approx(-y1)
    assert ax.get_xscale() == "log" and "residual" in ax.get_ylabel()
    assert_inside_limits(ax)
    assert_legend_clear(ax)
    out = plot.save(ax, tmp_path / "res.pdf")
    head = out.read_bytes()
    assert head.startswith(b"%PDF-") and b"MediaBox" in head


# ---------------------------------------------------------------------- bootstrap
@pytest.mark.slow
def test_bootstrap_pair_and_grid(chin, tmp_path):
    a, b = plot.most_correlated_pair(chin)
    names = chin.law_.param_names
    S = chin.samples
    # amplitude and its exponent move together: the pair is (A, alpha) or (B, beta)
    assert (a, b) in (("A", "alpha"), ("B", "beta"))
    r = np.corrcoef(np.log(S[:, names.index(a)]), S[:, names.index(b)])[0, 1]
    assert r > 0.9
    ax = plot.bootstrap(chin, pair=("A", "alpha"))
    pts = collections(ax, "100 bootstrap fits")[0].get_offsets()
    assert np.allclose(pts[:, 0], S[:, names.index("A")])
    assert np.allclose(pts[:, 1], S[:, names.index("alpha")])
    star = line(ax, "fit")
    assert star.get_xdata()[0] == chin.params_["A"] and star.get_ydata()[0] == chin.params_["alpha"]
    vlines = [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == "--"
              and ln.get_xdata()[0] == ln.get_xdata()[1]]
    assert sorted(vlines) == pytest.approx(sorted(chin.ci_["A"]))
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"  # A is log-parametrised
    assert ax.get_xlabel() == "A" and ax.get_ylabel() == r"$\alpha$"  # drawn as α
    assert_inside_limits(ax)
    assert_legend_clear(ax)
    axes = plot.bootstrap_grid(chin)
    assert axes.shape == (5, 5)
    assert not axes[0, 1].get_visible() and axes[1, 0].get_visible()
    counts = sum(p.get_height() for p in axes[2, 2].patches)
    assert counts == len(S)
    fig = axes[0, 0].figure
    size = fig.get_size_inches()
    out = plot.save(axes, tmp_path / "grid.png", dpi=80)
    assert_png(out, size, 80)


# ---------------------------------------------------------------------- curves
#: Luo et al. 2025, multi-power law fitted to the 400M curves (published parameters)
MPL_400M = {"L0": 2.3747, "A": 0.6542, "alpha": 0.4288, "B": 523.42, "C": 2.0246,
            "beta": 0.5935, "gamma": 0.6347}


def test_curves_figure_of_published_multi_power_law(tmp_path):
    pytest.importorskip("scalefit.curves.plot")
    from scalefit.curves import CurveFitResult

    folder = DATA / "multipower" / "400M"
    if not folder.is_dir():
        pytest.skip("data/multipower is not in this checkout")
    res = CurveFitResult(law="multi_power", params=dict(MPL_400M), objective=0.0, n_points=0)
    js = tmp_path / "mpl.json"
    res.to_json(js)
    files = [folder / "wsd_20000_24000.csv", folder / "cosine_72000.csv"]
    out = tmp_path / "curves.png"
    assert run(["plot", str(js), "--data", str(files[0]), "--data", str(files[1]),
                "-o", str(out), "--dpi", "60"]) == 0
    assert mpimg.imread(out).shape[0] > 100
    from scalefit.curves import read_curve

    curves = [read_curve(f) for f in files]
    axes = plot.figure(res, "curves", curves=curves)
    assert len(axes) == 2
    for ax, c in zip(axes, curves, strict=True):
        obs = line(ax, "observed") if ax is axes[0] else next(
            ln for ln in ax.get_lines() if ln.get_marker() == ".")
        pred = next(ln for ln in ax.get_lines() if ln.get_marker() in ("None", ""))
        df = res.predict(c)
        assert np.allclose(obs.get_ydata(), df["loss"]) and len(obs.get_xdata()) > 100
        ok = np.isfinite(df["loss_pred"])
        assert np.allclose(pred.get_ydata()[ok], df["loss_pred"][ok])
        # the published law predicts these held-out curves to within 1.5% everywhere
        rel = np.abs(df["loss"][ok] - df["loss_pred"][ok]) / df["loss"][ok]
        assert rel.max() < 0.015
        assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss (nats/token)"


# ---------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_plot_command_kinds_and_formats(chin, tmp_path, capsys):
    js = tmp_path / "fit.json"
    chin.to_json(js)
    for kind, suffix in (("forecast", "png"), ("optimal", "svg"), ("bootstrap", "pdf")):
        out = tmp_path / f"{kind}.{suffix}"
        assert run(["plot", str(js), "--kind", kind, "-o", str(out)]) == 0
        assert out.stat().st_size > 5000
    assert_png(tmp_path / "forecast.png", (6.4, 5.6), 150)  # forecast() with its error panel
    # points come back with the data; residuals need them
    out = tmp_path / "res.png"
    assert run(["plot", str(js), "--kind", "residuals", "--data", str(CHIN), "-o", str(out)]) == 0
    assert_png(out, (7.2, 4.4), 150)
    capsys.readouterr()
    # the artefact records its data, so no --data is needed ...
    assert run(["plot", str(js), "--kind", "residuals", "-o", str(out)]) == 0
    # ... unless it does not say where its data is
    d = json.loads(js.read_text())
    d["settings"]["data"] = None
    js.write_text(json.dumps(d))
    capsys.readouterr()
    assert run(["plot", str(js), "--kind", "residuals", "-o", str(out)]) == 2
    assert "needs the fit's data" in capsys.readouterr().err
    assert run(["plot", str(js), "-o", str(tmp_path / "x.jpg")]) == 2
    assert ".png, .svg or .pdf" in capsys.readouterr().err
    assert run(["plot", str(js), "--kind", "violin", "-o", str(out)]) == 2
    assert "unknown figure kind" in capsys.readouterr().err
    # data of another fit is reported, not silently used
    assert run(["plot", str(js), "--data", str(ISO), "-o", str(out)]) == 0
    assert "differs from the data this fit was made on" in capsys.readouterr().err


def test_plot_command_isoflop(tmp_path):
    res = scalefit.fit(ISO, "chinchilla", bootstrap=0)
    js = tmp_path / "iso.json"
    res.to_json(js)
    out = tmp_path / "iso.png"
    assert run(["plot", str(js), "--kind", "isoflop", "--data", str(ISO), "-o", str(out),
                "--dpi", "100"]) == 0
    assert_png(out, (7.2, 4.4), 100)
