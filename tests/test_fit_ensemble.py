"""law="auto"'s average: when a law with an irreducible loss wins the backtest (Chinchilla's form
with free, prior-pulled or tied exponents, Kaplan's joint form plus a constant), the family's
members, fitted to every run or without the smallest sizes, are averaged, weighted by the
inverse square of their backtest errors."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import scalefit
from scalefit.errors import FitError, InputError
from scalefit.fitting.backtest import _ensemble

DATA = Path(__file__).resolve().parents[1] / "data"
X = {"N": 7e10, "D": 1.4e12}


@pytest.fixture(scope="module")
def auto_fit():
    return scalefit.fit(DATA / "chinchilla.csv", "auto", bootstrap=50)


@pytest.mark.slow
def test_members_weights_are_inverse_squared_backtest_errors(auto_fit):
    ens = auto_fit.backtest["ensemble"]
    members = ens["members"]
    assert {m["law"] for m in members} == {"chinchilla", "chinchilla_prior", "overtrain",
                                         "kaplan_nd_e"}
    assert len(members) == 8
    ranking = {r.get("label") or r["law"]: r["mean_rel_error"] for r in
               auto_fit.backtest["ranking"]}
    err = np.array([ranking[m["label"]] for m in members])
    np.testing.assert_allclose([m["backtest_error"] for m in members], err, rtol=1e-12)
    w = err ** -2 / np.sum(err ** -2)
    np.testing.assert_allclose([m["weight"] for m in members], w, rtol=1e-9)
    # the best-backtesting member is the result itself and weighs most
    best = max(members, key=lambda m: m["weight"])
    assert best["label"] == auto_fit.law == "overtrain"
    assert best["params"] == pytest.approx(auto_fit.params_, rel=1e-12)


@pytest.mark.slow
def test_prediction_is_the_weighted_average_of_independent_member_fits(auto_fit):
    members = auto_fit.backtest["ensemble"]["members"]
    kept = {r["label"]: r.get("runs") for r in auto_fit.backtest["ranking"] if r.get("runs")}
    preds, weights = [], []
    for m in members:
        # each member refitted from scratch through the public API
        res = scalefit.fit(DATA / "chinchilla.csv", m["law"], runs=kept.get(m["label"]))
        preds.append(float(res.predict(**X).value))
        weights.append(m["weight"])
    p = auto_fit.predict(**X)
    assert float(p.value) == pytest.approx(float(np.dot(weights, preds)), rel=1e-6)
    # the members disagree by more than rounding, so the average is not any one of them
    assert max(preds) / min(preds) - 1 > 1e-3
    # the interval covers every member's prediction, and says it averages them
    assert p.lo <= min(preds) and max(preds) <= p.hi
    assert "averages 8 fits" in p.calibration
    # each member's own prediction is reported with it, in the record and in the summary
    assert list(p.members) == [m["label"] for m in members]
    np.testing.assert_allclose(list(p.members.values()), preds, rtol=1e-6)
    (rec,) = p.to_records()
    assert rec["members"] == pytest.approx(p.members, rel=1e-12)
    res = scalefit.fit(DATA / "chinchilla.csv", "auto", bootstrap=0, predict=X)
    line = next(x for x in str(res.summary()).splitlines() if "members of the average" in x)
    assert "kaplan_nd_e " in line and "chinchilla without the 10 smallest sizes " in line


@pytest.mark.slow
def test_ensemble_backtest_is_the_average_of_the_members_held_out_predictions(auto_fit):
    ens = auto_fit.backtest["ensemble"]
    best = min(m["backtest_error"] for m in ens["members"])
    worst = max(m["backtest_error"] for m in ens["members"])
    # an average of predictions errs no more than its worst member (triangle inequality)
    assert 0 < ens["mean_rel_error"] <= worst
    assert ens["mean_rel_error"] == pytest.approx(0.0061, abs=5e-4)
    assert best == pytest.approx(0.0067, abs=5e-4)
    text = str(auto_fit.summary())
    assert "predictions average the 8 fits" in text
    assert "the parameters shown are the best-backtesting member's" in text


@pytest.mark.slow
def test_the_averages_interval_is_calibrated_on_its_own_backtest(auto_fit):
    from scalefit.fitting.backtest import AUTO_LAWS, compare

    cal = auto_fit.backtest["calibration"]
    assert cal["of"] == "average"
    auto = compare(DATA / "chinchilla.csv", list(AUTO_LAWS), None, screen=True)
    n = cal["n_points"]
    k = math.ceil((n + 1) * cal["level"])
    own = np.sort(auto["ensemble"]["_scores"])
    best = np.sort(auto["_best_backtest"]["_scores"])
    assert own.size == best.size == n
    # the conformal quantile of the average's held-out scores, not of its best member's
    assert cal["rate_per_span"] == pytest.approx(own[min(k, n) - 1], rel=1e-9)
    assert abs(cal["rate_per_span"] / best[min(k, n) - 1] - 1) > 0.05
    assert "calibrated on the average's backtest" in str(auto_fit.summary())
    assert "calibrated on the average's backtest" in auto_fit.predict(**X).calibration


@pytest.mark.slow
def test_without_every_member_the_chosen_law_predicts_on_its_own_calibration(monkeypatch):
    import scalefit.fitting.api as api

    real = api.fit_dataset

    def failing(ds, law, **kw):  # one member cannot be refitted to every run
        if law.name == "kaplan_nd_e":
            raise FitError("no fit")
        return real(ds, law, **kw)

    monkeypatch.setattr(api, "fit_dataset", failing)
    res = scalefit.fit(DATA / "chinchilla.csv", "auto", bootstrap=0)
    assert "ensemble" not in res.backtest and res.predict(**X).members is None
    assert res.backtest["calibration"]["of"] == res.law == "overtrain"
    assert "calibrated on it:" in str(res.summary())


@pytest.mark.slow
def test_the_average_survives_a_round_trip(auto_fit, tmp_path):
    path = tmp_path / "fit.json"
    auto_fit.to_json(path)
    back = scalefit.FitResult.from_json(path)
    a, b = auto_fit.predict(**X), back.predict(**X)
    assert float(b.value) == pytest.approx(float(a.value), rel=1e-12)
    assert (b.lo, b.hi) == pytest.approx((a.lo, a.hi), rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("edit, key", [
    (lambda m: m.update(weight=2.0), "weight"),
    (lambda m: m["params"].update(E="1.8"), "params.E"),
    (lambda m: m.update(law=["chinchilla"]), "law"),
])
def test_a_tampered_member_is_refused_naming_the_key(auto_fit, tmp_path, edit, key):
    d = json.loads(auto_fit.to_json())
    edit(d["backtest"]["ensemble"]["members"][1])
    with pytest.raises(InputError, match=rf"backtest\.ensemble\.members\[1\]\.{key}"):
        scalefit.FitResult.from_dict(d)


@pytest.mark.slow
def test_a_tampered_member_prediction_is_refused(auto_fit):
    d = json.loads(auto_fit.to_json())
    d["predictions"] = auto_fit.predict(**X).to_records()
    d["predictions"][0]["members"]["chinchilla"] = "1.97"
    with pytest.raises(InputError, match=r"predictions\[0\]\.members\.chinchilla"):
        scalefit.FitResult.from_dict(d)


def _row(law, err, variant=None):
    return {"law": law, "mean_rel_error": err, "variant": variant,
            "label": f"{law} {variant}" if variant else None,
            "runs": ["a", "b"] if variant else None}


def _bt(pred, y, scale=None):
    return {"_pred": np.asarray(pred, float), "_y": np.asarray(y, float),
            "_fold": np.zeros(len(y), int),
            "_scale": np.ones(len(y)) if scale is None else np.asarray(scale, float)}


def test_no_average_when_another_law_or_a_run_selection_won():
    y = [2.0, 2.1]
    rows = [_row("kaplan_nd", 0.01), _row("chinchilla", 0.02), _row("overtrain", 0.03)]
    done = {"kaplan_nd": _bt(y, y), "chinchilla": _bt(y, y), "overtrain": _bt(y, y)}
    assert _ensemble(rows, rows[0], done) is None
    variant = _row("overtrain", 0.01, "without the smallest size")
    assert _ensemble([variant, *rows[1:]], variant, {**done, _label(variant): _bt(y, y)}) is None
    # the family alone, chosen: averaged, with the average's own backtest
    ens = _ensemble(rows[1:], rows[1], {"chinchilla": _bt([2.02, 2.121], y, [2.0, 0.5]),
                                        "overtrain": _bt([1.94, 2.037], y, [9.0, 9.0])})
    w = np.array([0.02 ** -2, 0.03 ** -2]) / (0.02 ** -2 + 0.03 ** -2)
    pred = w[0] * np.array([2.02, 2.121]) + w[1] * np.array([1.94, 2.037])
    assert ens["mean_rel_error"] == pytest.approx(np.mean(np.abs(pred - y) / y), rel=1e-12)
    assert [m["weight"] for m in ens["members"]] == pytest.approx(list(w), rel=1e-12)
    # the scores that calibrate the intervals are the average's own errors, at the scale of the
    # chosen member's backtest (per decade beyond its fitted range, per span of its sizes)
    np.testing.assert_allclose(ens["_scores"], np.abs(np.log(np.array(y) / pred)) * [2.0, 0.5],
                               rtol=1e-12)


def _label(row):
    return row.get("label") or row["law"]


@pytest.mark.slow
def test_the_compute_optimal_allocation_is_the_average_laws(auto_fit):
    C = np.array([1e21, 5.76e23])
    opt = auto_fit.optimal(C)
    # the loss at the allocation is the average's prediction there, and it is the minimum
    at = auto_fit.predict(N=opt["N"], D=opt["D"])
    np.testing.assert_allclose(opt["loss"], at.value, rtol=1e-12)
    for f in (0.8, 0.95, 1.05, 1.25):
        n = opt["N"] * f
        assert np.all(auto_fit.predict(N=n, D=C / (6 * n)).value > opt["loss"])
    np.testing.assert_allclose(6 * opt["N"] * opt["D"], C, rtol=1e-12)
    # not the chosen member's own optimum, and its interval moved with it
    own = scalefit.fit(DATA / "chinchilla.csv", auto_fit.law).optimal(C)
    assert np.all(np.abs(opt["N"] / own["N"] - 1) > 1e-3)
    assert np.all((opt["N_lo"] < opt["N"]) & (opt["N"] < opt["N_hi"]))


@pytest.mark.slow
def test_the_forecast_figure_says_it_shows_the_average(auto_fit):
    import matplotlib

    matplotlib.use("Agg")
    from scalefit import plot

    ax = plot.forecast(auto_fit)
    assert ax.get_title().startswith("average of 8 fits (overtrain weighs most)")
    assert auto_fit.ensemble["members"][0]["weight"] > 0
    assert scalefit.fit(DATA / "chinchilla.csv", "chinchilla").ensemble is None


@pytest.mark.slow
def test_members_keep_the_runs_the_user_chose():
    import pandas as pd

    df = pd.read_csv(DATA / "chinchilla.csv")
    df = df[df["exclude"] == 0].reset_index(drop=True)
    table = pd.DataFrame({"run": [f"r{i}" for i in range(len(df))], "N": df["Model Size"],
                          "C": df["Training FLOP"], "loss": df["loss"]})
    keep = table.loc[table["N"] < 5e9, "run"].tolist()
    res = scalefit.fit(table, "auto", runs=keep)
    ens = res.ensemble
    assert ens is not None and {m["law"] for m in ens["members"]} == {
        "chinchilla", "chinchilla_prior", "overtrain", "kaplan_nd_e"}
    assert all(m["n_runs"] == len(keep) for m in ens["members"])
    for m in ens["members"]:
        own = scalefit.fit(table, m["law"], runs=keep)
        assert m["params"] == pytest.approx(own.params_, rel=1e-6)


@pytest.mark.slow
def test_the_variant_the_intervals_cover_is_the_member_fitted_once(monkeypatch):
    """The exponent variant fitted to every run serves both the interval and the average."""
    import scalefit.fitting.api as api

    calls = []
    real = api.fit_dataset
    monkeypatch.setattr(api, "fit_dataset", lambda *a, **k: calls.append(1) or real(*a, **k))
    res = scalefit.fit(DATA / "chinchilla.csv", "auto", bootstrap=0)
    alt = res.backtest["calibration"]["alternatives"][0]
    member = next(m for m in res.backtest["ensemble"]["members"] if m["label"] == alt["law"])
    assert member["params"] == alt["params"]
    # the fit itself, its variant, chinchilla_prior, kaplan_nd_e, and the four members fitted
    # without the smallest sizes
    assert len(calls) == 8


def test_the_variant_the_intervals_cover_keeps_the_users_bounds():
    res = scalefit.fit(DATA / "chinchilla.csv", "chinchilla", bounds={"E": (1.85, 1.95)},
                       holdout="auto", bootstrap=0)
    alt = res.backtest["calibration"]["alternatives"][0]
    assert alt["law"] == "overtrain"
    # fitted free, the tied-exponent variant's E sits at 1.818, outside what the user allowed
    assert alt["params"]["E"] == pytest.approx(1.85, abs=1e-6)


def test_kaplan_nd_e_with_its_constant_at_zero_leaves_the_family():
    """Kaplan's joint form plus a constant, with the constant at 0 in every backtest fit, is
    Kaplan's form: it is chosen only by backtesting clearly better, and is not averaged."""
    from scalefit.fitting.backtest import _choose, _flag_vanished_constant
    from scalefit.laws import get_law

    kap, chin = get_law("kaplan_nd_e"), get_law("chinchilla")

    class DS:
        y = np.array([2.0, 2.5])

    y = [2.0, 2.1]
    at_zero = {"_fold_params": [{"E": 0.0, "N_c": 1e9}, {"E": 1e-9, "N_c": 2e9}]}
    row = _row("kaplan_nd_e", 0.018)
    _flag_vanished_constant(row, at_zero, DS, kap)
    assert row["as"] == "kaplan_nd" and "E at 0" in row["note"]
    rows = [row, _row("chinchilla", 0.02), _row("overtrain", 0.03)]
    pick, _ = _choose(rows)
    assert pick["law"] == "chinchilla"  # 0.018 is not 20% better than 0.02
    done = {"kaplan_nd_e": _bt([2.0, 2.1], y), "chinchilla": _bt([2.02, 2.121], y),
            "overtrain": _bt([1.94, 2.037], y)}
    ens = _ensemble(rows, pick, done)
    assert [m["law"] for m in ens["members"]] == ["chinchilla", "overtrain"]
    # with a constant in one fold it stays a member, and here the best one
    kept = _row("kaplan_nd_e", 0.018)
    _flag_vanished_constant(kept, {"_fold_params": [{"E": 0.0}, {"E": 0.4}]}, DS, kap)
    assert "as" not in kept
    pick, _ = _choose([kept, *rows[1:]])
    assert pick is kept
    ens = _ensemble([kept, *rows[1:]], kept, done)
    assert {m["law"] for m in ens["members"]} == {"kaplan_nd_e", "chinchilla", "overtrain"}
    # other laws are never flagged
    other = _row("chinchilla", 0.02)
    _flag_vanished_constant(other, at_zero, DS, chin)
    assert "as" not in other


@pytest.mark.slow
def test_predict_from_a_saved_average_prints_its_members(auto_fit, tmp_path):
    from typer.testing import CliRunner

    from scalefit.cli import app

    path = tmp_path / "fit.json"
    auto_fit.to_json(path)
    res = CliRunner().invoke(app, ["predict", str(path), "--at", "N=7e10,D=1.4e12"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stdout.splitlines() if "members of the average" in x)
    members = auto_fit.predict(**X).members
    for label, value in members.items():
        assert f"{label} {value:.5g}" in line
