"""Forecasts from two runs: fit cosine_24000 and constant_24000 only, predict the final loss
(last logged step) of five other schedules of the multi-power curves, against the naive guess
(the cosine run's final loss). ``python benchmarks/fit_curves.py --two-run`` prints the table.
"""

from pathlib import Path

import numpy as np
import pytest

from scalefit.curves import CurveFitResult, fit_curves, multipower_curves
from scalefit.fitting.curves import TWO_CURVE_PRIOR_REL

DATA = Path(__file__).resolve().parents[1] / "data" / "multipower"
TRAIN = ["cosine_24000", "constant_24000"]
TEST = ["wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_9", "wsdcon_18"]
# measured mean relative final-loss error (%) of the default (the two laws' mean); each law
# alone: multi_power 0.193 / 0.311 / 0.508, lr_annealing 0.204 / 0.182 / 0.547
MEASURED = {"25M": 0.086, "100M": 0.185, "400M": 0.480}


def _forecast(size, law=None):
    tr = multipower_curves(DATA / size, TRAIN)
    res = fit_curves(tr, *(() if law is None else (law,)), intervals=True)
    rows = []
    for c in multipower_curves(DATA / size, TEST):
        df = res.predict(c, steps=[c.steps[-1]]).iloc[0]
        rows.append((c.loss[-1], df["loss_pred"], df.get("loss_lo"), df.get("loss_hi")))
    return res, np.array(rows, dtype=float), tr[0].loss[-1]


@pytest.fixture(scope="module")
def forecasts():
    return {s: _forecast(s) for s in MEASURED}


@pytest.mark.slow
def test_default_beats_naive_and_each_law(forecasts):
    for size, (res, rows, cos_final) in forecasts.items():
        assert res.law == "ensemble" and res.settings["law_choice"]["chosen"] == "ensemble"
        err = 100 * np.abs(rows[:, 1] - rows[:, 0]) / rows[:, 0]
        naive = 100 * np.abs(cos_final - rows[:, 0]) / rows[:, 0]
        assert err.mean() == pytest.approx(MEASURED[size], abs=0.02), size
        assert err.mean() <= 0.5 * naive.mean(), size  # naive: 1.93 / 2.07 / 2.36%
    # the target of 0.20% at every size is met at 25M and 100M, not at 400M (0.48%)
    assert max(MEASURED["25M"], MEASURED["100M"]) <= 0.20


@pytest.mark.slow
def test_two_run_band_covers_and_says_how(forecasts):
    inside = []
    for res, rows, _ in forecasts.values():
        y, p, lo, hi = rows.T
        assert np.all(lo < p) and np.all(p < hi)
        inside += list((lo <= y) & (y <= hi))
        # informative: a half-width of about 1% at 95%
        assert np.all((hi - p) / p < 0.015)
        assert "prior" in res.settings["intervals"] and "spread" in res.settings["intervals"]
        assert "prediction band (95%)" in res.summary()
    # pooled 95% coverage of the 15 held-out final losses: measured 13/15 (the two WSD runs
    # at 400M, 1.0% and 0.9% off, fall outside)
    assert np.mean(inside) >= 0.85
    assert TWO_CURVE_PRIOR_REL == pytest.approx(0.0036)


@pytest.mark.slow
def test_band_survives_the_artefact(forecasts, tmp_path):
    res = forecasts["100M"][0]
    res.to_json(tmp_path / "f.json")
    back = CurveFitResult.from_json(tmp_path / "f.json")
    c = multipower_curves(DATA / "100M", ["wsdcon_3"])[0]
    a, b = res.predict(c), back.predict(c)
    np.testing.assert_allclose(b["loss_hi"], a["loss_hi"], rtol=1e-12)
    np.testing.assert_allclose(b["loss_pred"], a["loss_pred"], rtol=1e-12)


def test_paper_method_far_from_optimum_says_so():
    # the Adam recipe on lr_annealing from two runs stops 400x above the nearby minimum
    res = fit_curves(multipower_curves(DATA / "25M", TRAIN), "lr_annealing", method="paper")
    assert res.diagnostics["optimum_gap"]["ratio"] > 20
    assert any("method 'paper' stopped early" in w for w in res.diagnostics["warnings"])
    assert "stopped early" in res.summary()


def test_warmup_points_left_out_by_default():
    from scalefit.curves.data import Curve
    from scalefit.schedules import parse_schedule

    sch = parse_schedule("cosine:peak=3e-4,warmup=500,steps=4000,final=3e-5")
    eta = sch.lr(np.arange(sch.total_steps))
    steps = np.arange(50, 4000, 50)
    loss = 2.5 + 0.6 * np.cumsum(eta)[steps] ** -0.45
    loss[steps < 500] += 0.5  # warmup points the law cannot describe
    c = Curve("cos", eta, steps, loss, None, sch)
    res = fit_curves([c], "lr_annealing")
    assert any("during warmup" in n for n in res.diagnostics["notes"])
    assert res.n_points == int((steps >= 499).sum())
    kept = fit_curves([c], "lr_annealing", skip_warmup=False)
    assert kept.n_points == steps.size


@pytest.mark.slow
def test_default_chooses_by_leaving_one_curve_out():
    # four curves: each law refitted on three, judged on the fourth
    names = ["cosine_24000", "constant_24000", "wsdcon_9", "wsd_20000_24000"]
    res = fit_curves(multipower_curves(DATA / "100M", names), intervals=True)
    ch = res.settings["law_choice"]
    assert set(ch["scores"]) == {"multi_power", "lr_annealing", "ensemble"}
    assert ch["chosen"] == res.law == min(ch["scores"], key=ch["scores"].get)
    assert max(ch["scores"].values()) < 0.01  # every law within 1% of a left-out curve
    assert [r["left_out"] for r in res.replicates] == names
    assert "law chosen" in res.summary()
    # three curves: the published recipe (tests/test_curves_multipower.py pins its PredE)
    three = fit_curves(multipower_curves(DATA / "25M", names[:3]))
    assert three.law == "multi_power" and three.settings["law_choice"]["chosen"] == "multi_power"
