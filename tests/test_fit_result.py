"""FitResult: summary, predictions with intervals, optimal allocation, JSON round trip, plot."""

import json

import numpy as np
import pandas as pd
import pytest
from _synthetic import chinchilla_table

import scalefit
from scalefit.errors import InputError, UsageError
from scalefit.laws import get_law
from scalefit.result import FitResult

LAW = get_law("chinchilla")
TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
KEYS = {"law", "params", "ci", "objective", "n_points", "predictions", "derived", "diagnostics",
        "backtest", "settings", "data_hash", "version"}


@pytest.fixture(scope="module")
def table():
    return chinchilla_table(60, 0.01)


@pytest.fixture(scope="module")
def res(table):
    return scalefit.fit(table, "chinchilla", bootstrap=100, holdout="largest:5",
                        predict=[{"N": 7e10, "D": 1.4e12}], optimal=[1e23, 1e24])


def test_predict_with_bootstrap_interval(res):
    p = res.predict(N=7e10, D=1.4e12)
    expected = LAW.predict({"N": 7e10, "D": 1.4e12}, res.params_)[0]
    assert float(p) == pytest.approx(expected, rel=1e-12)
    # the bootstrap interval, widened by what the backtest on the 5 largest runs calls for
    assert p.lo < float(p) < p.hi and p.method == "bootstrap+backtest"
    assert p.calibration.startswith("95% interval calibrated on the backtest largest:5")
    cal = res.backtest["calibration"]
    assert cal["n_points"] == 5 and cal["rate_per_decade"] > 0
    draws = LAW._predict(LAW.check_inputs({"N": [7e10], "D": [1.4e12]}), res.samples)
    assert p.lo <= np.percentile(draws, 2.5) and p.hi >= np.percentile(draws, 97.5)
    # vectorised, and C may stand in for D
    pv = res.predict(N=[1e9, 7e10], C=[6 * 1e9 * 2e10, 6 * 7e10 * 1.4e12])
    assert pv.value.shape == (2,)
    assert pv.value[1] == pytest.approx(expected, rel=1e-9)
    with pytest.raises(UsageError, match="missing"):
        res.predict(N=1e9)


def test_delta_band_without_bootstrap(table):
    r = scalefit.fit(table, "chinchilla")
    p = r.predict(N=7e10, D=1.4e12)
    assert p.method == "delta" and p.lo < float(p) < p.hi
    assert r.ci_ is None and set(r.stderr_) == set(LAW.param_names)


def test_optimal_allocation(res):
    o = res.optimal(1e24)
    d = res.derived
    assert o["N"] * o["D"] * 6 == pytest.approx(1e24, rel=1e-9)
    assert o["N"] == pytest.approx(d["G"]["value"] * (1e24 / 6) ** d["a"]["value"], rel=1e-9)
    assert o["N_lo"] < o["N"] < o["N_hi"]
    assert d["a"]["value"] == pytest.approx(0.35 / 0.72, abs=0.05)
    rec = [p for p in res.predictions if p.get("kind") == "optimal"]
    assert [p["inputs"]["C"] for p in rec] == [1e23, 1e24]


def test_summary_text_html_dict(res):
    text = str(res.summary())
    for k in ("E", "alpha", "beta", "95% bootstrap", "N_opt", "backtest (largest:5)",
              "loss at N=7e+10"):
        assert k in text
    html = res._repr_html_()
    assert "<table>" in html and "alpha" in html
    assert res.summary().to_dict()["law"] == "chinchilla"


def test_json_round_trip(res, tmp_path):
    path = tmp_path / "fit.json"
    assert res.to_json(path) is None  # a notebook cell that saves a fit echoes nothing
    text = res.to_json()
    d = json.loads(path.read_text())
    assert KEYS <= set(d) and d == json.loads(text)
    assert d["ci"]["alpha"][0] < d["params"]["alpha"] < d["ci"]["alpha"][1]
    assert {"inputs", "value", "lo", "hi"} <= set(d["predictions"][0])
    assert d["data_hash"].startswith("sha256:")
    assert d["backtest"]["n_heldout"] == 5
    back = FitResult.from_json(path)
    assert back.params_ == res.params_ and back.ci_ == res.ci_
    p1, p2 = res.predict(N=7e10, D=1.4e12), back.predict(N=7e10, D=1.4e12)
    assert (float(p2), p2.lo, p2.hi) == pytest.approx((float(p1), p1.lo, p1.hi))
    assert FitResult.from_json(text).objective_ == res.objective_


def test_to_lmfit(res):
    p = res.to_lmfit()
    assert list(p) == LAW.param_names
    assert p["alpha"].value == res.params_["alpha"] and p["alpha"].stderr > 0


def test_from_json_errors(tmp_path):
    with pytest.raises(InputError, match="no such fit file"):
        FitResult.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"law": "chinchilla"}')
    with pytest.raises(InputError, match="key 'params' is missing"):
        FitResult.from_json(bad)


def test_diagnostics_warn_in_the_summary():
    # 7 points for 5 parameters, and the data cannot tell E apart from the power laws
    N = np.array([1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9])
    D = 20 * N
    L = LAW.predict({"N": N, "D": D}, TRUE)
    r = scalefit.fit(pd.DataFrame({"N": N, "D": D, "loss": L}), "chinchilla")
    text = str(r.summary())
    assert "warning: only 1.4 points per free parameter" in text
    assert "ill-conditioned" in text
    assert r.diagnostics["condition_number"] > 1e10
    assert {"at_bound", "multistart", "residuals", "points_per_param"} <= set(r.diagnostics)


def test_forecast_plot(res, tmp_path):
    import matplotlib

    from scalefit.plot import forecast

    ax = forecast(res)
    assert matplotlib.get_backend().lower() == "agg"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "compute" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "compute-optimal frontier" in labels and "held out (largest:5)" in labels
    assert "95% bootstrap band" in labels
    out = tmp_path / "f.png"
    ax.figure.savefig(out)
    assert out.stat().st_size > 10_000


def test_predict_accepts_n_d_c_for_any_size_law(table):
    r = scalefit.fit(table, "power:x=C")
    p = r.predict(N=7e10, D=1.4e12)
    assert p.inputs["C"] == pytest.approx(6 * 7e10 * 1.4e12)
    assert float(p) == pytest.approx(float(r.predict(C=6 * 7e10 * 1.4e12)), rel=1e-12)
    with pytest.raises(UsageError, match="got \\['Q'\\]"):
        r.predict(Q=1.0)


def test_summary_is_the_shared_type_with_rows_and_flags(table):
    from scalefit.result import Summary as Reexported
    from scalefit.summary import Summary

    assert Reexported is Summary
    r = scalefit.fit(table, "chinchilla", bounds={"E": (1.9, 2.5)}, fix={"beta": 0.37})
    s = r.summary()
    assert isinstance(s, Summary)
    rows = {row.name: row for row in s.params}
    assert rows["E"].value == pytest.approx(1.9, abs=1e-6) and rows["E"].flags == ("at bound",)
    assert rows["beta"].cell() == "fixed" and rows["alpha"].interval.endswith("(delta method s.e.)")
    # the text table: one row per parameter, the flag after the interval
    line = next(x for x in str(s).splitlines() if x.strip().startswith("E "))
    assert line.rstrip().endswith("(delta method s.e.)  at bound")
    view = s.to_dict()["summary"]
    assert [p["name"] for p in view["params"]] == LAW.param_names
    assert view["params"][0]["flags"] == ["at bound"]
    assert "at bound" in s._repr_html_()
    # one line, whatever the parameters
    assert repr(r).count("\n") == 0 and len(repr(r)) < 200
