"""Figures a reviewer accepts: held-out runs against their own predictions, one compute
definition per data set, units on the axes, bands near the data, intervals on every star,
compact legends, readable log ticks, mathtext titles, and where `scalefit fit` writes its figure.
Artists are read back and compared with the fit's own numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, PolyCollection  # noqa: E402

import scalefit  # noqa: E402
from scalefit import plot  # noqa: E402
from scalefit.cli import run  # noqa: E402
from scalefit.cli.fit import forecast_path  # noqa: E402
from scalefit.figstyle import mathtext, metric_label  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
CHIN = DATA / "chinchilla.csv"
LADDER = DATA / "ladder-cpu-tiny"
PORIAN = DATA / "porian2024" / "isoflop_tuned_rw.csv"


@pytest.fixture(scope="module")
def chin():
    return scalefit.fit(CHIN, "chinchilla", bootstrap=40, seed=0, holdout="largest:5",
                        predict={"N": 70e9, "D": 1.4e12}, optimal=[1e24])


@pytest.fixture(scope="module")
def ladder():
    from scalefit.store import Store

    if not LADDER.is_dir():
        pytest.skip("data/ladder-cpu-tiny is not in this checkout")
    st = Store(LADDER, create=False)
    return st, scalefit.fit(st, "chinchilla", metric="val/loss", bootstrap=30, seed=0,
                            holdout="auto")


@pytest.fixture(autouse=True)
def _close_all():
    yield
    plt.close("all")


def scatter(ax, prefix):
    found = [c for c in ax.collections if isinstance(c, PathCollection)
             and str(c.get_label()).startswith(prefix)]
    assert len(found) == 1, (prefix, [c.get_label() for c in ax.collections])
    return np.asarray(found[0].get_offsets(), float)


def errorbar(ax, prefix):
    """(marker x, marker y, [(lo, hi)] per bar) of the errorbar container labelled ``prefix``."""
    found = [c for c in ax.containers if str(c.get_label()).startswith(prefix)]
    assert len(found) == 1, (prefix, [c.get_label() for c in ax.containers])
    line, _caps, bars = found[0].lines
    x, y = (np.asarray(v, float) for v in line.get_data())
    segs = bars[0].get_segments() if bars else []
    return x, y, [tuple(sorted(s[:, 1])) for s in segs]


# ---------------------------------------------------------------------- held-out runs
def test_heldout_runs_are_drawn_at_their_observed_and_own_predicted_values(chin):
    ax = plot.forecast(chin)
    pts = chin.backtest["points"]
    value = np.array([p["value"] for p in pts])
    pred = np.array([p["pred"] for p in pts])
    # the Chinchilla table's compute: its Training FLOP column, 6ND of the same runs
    df = pd.read_csv(CHIN).assign(run=lambda d: [f"chinchilla-{i}" for i in range(len(d))])
    flops = dict(zip(df["run"], df["Training FLOP"], strict=True))
    obs = scatter(ax, "held out (largest:5)")
    assert np.allclose(obs[:, 1], value, rtol=1e-12)
    assert np.allclose(obs[:, 0], [flops[p["run"]] for p in pts], rtol=1e-9)
    px, py, bars = errorbar(ax, "held out: predicted by the refit without them")
    assert np.allclose(py, pred, rtol=1e-12) and np.allclose(px, obs[:, 0])
    # the refit's predictions, not the full fit's frontier: they differ from the frontier
    assert len(bars) == len(pts)
    for (lo, hi), p in zip(bars, pred, strict=True):
        assert lo < p < hi and hi / lo < 1.5
    # each observed value joined to its own prediction
    pairs = [c for c in ax.collections if isinstance(c, LineCollection)
             and c.get_label() == "_pairs"]
    assert len(pairs) == 1
    ends = np.array([sorted(s[:, 1]) for s in pairs[0].get_segments()])
    assert np.allclose(ends, np.sort(np.column_stack([value, pred]), 1))
    # the error panel: observed / predicted - 1 in %, its mean as the backtest reports it
    err = scatter(ax.heldout_ax, "held out (largest:5, ")
    assert np.allclose(err[:, 1], 100 * (value / pred - 1), rtol=1e-9)
    mean = chin.backtest["mean_rel_error"]
    assert np.mean(np.abs(value - pred) / value) == pytest.approx(mean, rel=1e-9)
    assert any(f"mean |error| {100 * mean:.1f}%" in t.get_text()
               for t in ax.heldout_ax.get_legend().get_texts())
    assert "observed / predicted" in ax.heldout_ax.get_ylabel()


def test_heldout_intervals_follow_the_backtest_calibration(chin):
    h = plot.heldout_points(chin, chin.dataset)
    cal = chin.backtest["calibration"]
    from scipy.special import ndtri

    z = float(ndtri(0.5 + chin.level / 2))
    for q, lo, hi in zip(chin.backtest["points"], h["lo"], h["hi"], strict=True):
        w = max(cal["rate_per_decade"] * (q["decades_beyond"] + cal["offset_decades"]),
                z * cal["noise"])
        assert np.log(hi / q["pred"]) == pytest.approx(w, rel=1e-9)
        assert np.log(q["pred"] / lo) == pytest.approx(w, rel=1e-9)


# ---------------------------------------------------------------------- compute and units
def test_one_compute_definition_across_figures(ladder):
    st, res = ladder
    runs = st.runs.set_index("run")
    ds = res.dataset
    logged = runs.loc[[ds.runs[g] for g in ds.groups], "flops_total"].to_numpy(float)
    # the ladder's logged FLOPs are not 6ND: the figures must not mix the two
    assert np.abs(logged / (6 * ds.X["N"] * ds.X["D"]) - 1).max() > 0.2
    fax = plot.forecast(res)
    rax = plot.residuals(res)
    held = set(res.backtest["heldout_runs"])
    is_held = np.array([ds.runs[g] in held for g in ds.groups])
    fx = np.concatenate([scatter(fax, "runs")[:, 0], scatter(fax, "held out (")[:, 0]])
    assert np.allclose(np.sort(fx), np.sort(logged), rtol=1e-9)
    rx = np.concatenate([scatter(rax, "in-sample")[:, 0],
                         scatter(rax, "held-out runs, full fit")[:, 0]])
    assert np.allclose(np.sort(rx), np.sort(logged), rtol=1e-9)
    assert np.allclose(np.sort(scatter(rax, "held-out runs, backtest")[:, 0]),
                       np.sort(logged[is_held]), rtol=1e-9)
    for a in (fax.heldout_ax, rax):
        assert "logged FLOPs" in a.get_xlabel()


def test_compute_falls_back_to_6nd_and_says_so():
    df = pd.read_csv(CHIN)
    df = df[df["exclude"] == 0]
    t = pd.DataFrame({"N": df["Model Size"], "D": df["Training FLOP"] / (6 * df["Model Size"]),
                      "loss": df["loss"]})
    res = scalefit.fit(t, "chinchilla", bootstrap=0)
    ax = plot.forecast(res)
    assert ax.get_xlabel() == "training compute C = 6ND (FLOPs)"
    x = scatter(ax, "runs")[:, 0]
    assert np.allclose(np.sort(x), np.sort(df["Training FLOP"]), rtol=1e-9)


def test_axes_carry_units(chin):
    ax = plot.forecast(chin)
    assert ax.get_ylabel() == "loss (nats/token)"
    assert ax.heldout_ax.get_xlabel() == "training compute C (logged FLOPs)"
    assert "nats/token" in plot.isoflop(PORIAN).get_ylabel()
    assert "nats/token" in plot.residuals(chin).get_ylabel()
    assert metric_label("val/loss") == "validation loss (nats/token)"
    assert metric_label("train/loss") == "training loss (nats/token)"
    assert metric_label("loss_c4_val") == "validation loss loss_c4_val (nats/token)"
    assert metric_label("bpb") == "bpb (bits/byte)"


def test_log_y_axis_has_readable_ticks(chin):
    ax = plot.forecast(chin)
    ax.figure.canvas.draw()
    y0, y1 = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if y0 <= t <= y1]
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert 3 <= len(ticks) <= 8 and len(labels) >= 3
    assert all(float(s) == pytest.approx(v) for s, v in zip(labels, ticks, strict=False))


# ---------------------------------------------------------------------- bands and stars
def test_band_stays_within_a_margin_of_the_data_and_predictions(ladder):
    _, res = ladder
    ax = plot.forecast(res)
    ds = res.dataset
    opt = res.optimal(np.geomspace(1e9, 1e14, 50))
    assert opt["loss_lo"].min() < 0.8 * ds.y.min()  # unclipped, the band runs far below
    band = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(band) == 1
    by = band[0].get_paths()[0].vertices[:, 1]
    drawn = [ln.get_ydata() for ln in ax.get_lines() if ln.get_label() ==
             "compute-optimal frontier"][0]
    h = plot.heldout_points(res, ds)
    lo = min(ds.y.min(), drawn.min(), h["lo"].min())
    hi = max(ds.y.max(), drawn.max(), h["hi"].max())
    margin = (hi / lo) ** 0.1  # a tenth of the drawn range, in log space
    assert by.min() >= lo / margin and by.max() <= hi * margin
    y0, y1 = ax.get_ylim()
    assert by.min() >= y0 * (1 - 1e-9) and by.max() <= y1 * (1 + 1e-9)


def test_every_prediction_star_has_its_interval(chin):
    ax = plot.forecast(chin)
    p70 = chin.predictions[0]
    x, y, bars = errorbar(ax, "prediction (95% interval)")
    assert x[0] == pytest.approx(6 * 70e9 * 1.4e12) and y[0] == pytest.approx(p70["value"])
    assert bars[0] == pytest.approx((p70["lo"], p70["hi"]))
    po = next(p for p in chin.predictions if p.get("kind") == "optimal")
    x, y, bars = errorbar(ax, "compute-optimal prediction (95% interval)")
    assert x[0] == pytest.approx(1e24, rel=1e-6) and y[0] == pytest.approx(po["value"])
    assert bars[0] == pytest.approx((po["lo"], po["hi"]))
    # without a bootstrap the compute-optimal record has no interval of its own: the star
    # carries the interval of the loss at its optimal N and D
    res = scalefit.fit(CHIN, "chinchilla", bootstrap=0, holdout=None, optimal=[1e24])
    po = res.predictions[0]
    assert po["kind"] == "optimal" and po["lo"] is None
    x, y, bars = errorbar(plot.forecast(res), "compute-optimal prediction (95% interval)")
    pr = res.predict(N=po["N"]["value"], D=po["D"]["value"])
    assert bars and bars[0] == pytest.approx((float(pr.lo), float(pr.hi)))
    assert bars[0][0] < y[0] < bars[0][1] and bars[0][1] / bars[0][0] < 1.2


# ---------------------------------------------------------------------- legends and titles
def test_isoflop_legend_is_compact_and_budgets_are_on_a_colourbar():
    df = pd.read_csv(PORIAN)
    ax = plot.isoflop(PORIAN)
    # below the whole figure (a legend wider than the axes would push the colourbar away)
    assert ax.get_legend() is None and len(ax.figure.legends) == 1
    labels = [t.get_text() for t in ax.figure.legends[0].get_texts()]
    assert len(labels) <= 4
    assert any("colour: compute budget" in s for s in labels)
    assert all("C = " not in s for s in labels)
    cb = ax.budget_colorbar
    n = df["C"].nunique()
    assert n == 12 and "FLOPs" in cb.ax.get_ylabel()
    ticks = [t.get_text() for t in cb.ax.get_yticklabels()]
    assert 0 < len(ticks) <= 12
    budgets = np.sort(df["C"].unique())
    assert float(ticks[0]) == pytest.approx(budgets[0], rel=5e-3)


def test_forecast_legend_entries_are_few_and_named(chin):
    ax = plot.forecast(chin)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) <= 7 and len(set(labels)) == len(labels)
    assert all(s and not s.startswith("_") for s in labels)


def test_titles_are_mathtext_of_the_law_formula(chin):
    ax = plot.forecast(chin)
    assert ax.get_title() == r"chinchilla: $L = E + A/N^{\alpha} + B/D^{\beta}$"
    ax.figure.canvas.draw()  # mathtext typesets it
    from scalefit.laws import get_law, list_laws

    for name in list_laws():
        assert mathtext(get_law(name).formula).startswith("$"), name
    assert mathtext("L = (N_c/N)^alpha_N") == r"$L = (N_{c}/N)^{\alpha_{N}}$"
    assert mathtext("not $ typeset {") == "not $ typeset {"  # plain text when it cannot


def test_curves_figure_units_and_held_out_panels(tmp_path):
    from scalefit.curves import CurveFitResult, read_curve
    from scalefit.curves.plot import plot_curves

    folder = DATA / "multipower" / "400M"
    fitted = folder / "cosine_24000.csv"
    res = CurveFitResult(law="multi_power", params={"L0": 2.3747, "A": 0.6542, "alpha": 0.4288,
                                                    "B": 523.42, "C": 2.0246, "beta": 0.5935,
                                                    "gamma": 0.6347},
                         objective=0.0, n_points=0, settings={"data": {"paths": [str(fitted)]}})
    fig = plot_curves(res, [read_curve(fitted), read_curve(folder / "wsdcon_3.csv")])
    a, b = fig.axes[0], [x for x in fig.axes if x.get_xlabel() == "step"][1]
    assert a.get_ylabel() == b.get_ylabel() == "loss (nats/token)"
    assert "(fitted)" in a.get_title() and "(held out)" in b.get_title()
    assert "$" in fig._suptitle.get_text()


# ---------------------------------------------------------------------- forecast path
@pytest.mark.slow
def test_fit_writes_its_forecast_beside_json_named_by_data_and_law(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "gopher.csv"
    shutil.copy(CHIN, other)
    assert run(["fit", str(other), "--bootstrap", "0", "--holdout", "none",
                "--json", "out/fit.json"]) == 0
    fig = tmp_path / "out" / "gopher_auto_forecast.png"  # the default law, auto
    assert fig.is_file() and fig.stat().st_size > 10_000
    assert f"wrote {fig.resolve()}" in capsys.readouterr().out
    assert run(["fit", str(CHIN), "--bootstrap", "0", "--holdout", "none"]) == 0
    here = tmp_path / "chinchilla_auto_forecast.png"
    assert here.is_file() and f"wrote {here.resolve()}" in capsys.readouterr().out
    # the first figure is still there: fits of different data do not overwrite each other
    assert fig.is_file() and not (tmp_path / "chinchilla_forecast.png").exists()
    assert forecast_path(["runs/*.csv"], None, "power", None) == Path("runs_power_forecast.png")
    assert forecast_path(["a.csv", "b.csv"], None, "kaplan", "x/f.json") == \
        Path("x/a+1_kaplan_forecast.png")
    assert forecast_path(None, "stores/ladder/", "chinchilla", None) == \
        Path("ladder_chinchilla_forecast.png")


def test_task_figure_axes_carry_units_and_the_targets_interval(olmo_example):
    from scalefit.tasks import predict_task
    from scalefit.tasks_plot import plot_task

    store = olmo_example.ladder_store()
    pred = predict_task(store, "piqa", ["N=6887575552,D=3.945e12,name=7B"],
                        runs=olmo_example.FIT_RUNS, n_boot=8, seed=3, chance=0.5)
    a1, a2 = plot_task(pred).axes
    assert a1.get_ylabel() == a2.get_xlabel() == "task/piqa/bpb (bits/byte)"
    assert a2.get_ylabel() == "task/piqa/acc (accuracy)"
    assert a1.get_xlabel() == "training tokens D"
    t = pred.targets[0]
    bars = [s for c in a2.collections if isinstance(c, LineCollection)
            for s in c.get_segments() if np.allclose(s[:, 0], t.loss)]
    assert bars and tuple(sorted(bars[0][:, 1])) == pytest.approx((t.lo, t.hi))
