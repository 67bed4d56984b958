"""The Chinchilla fit reproduces Epoch's replication (Besiroglu et al. 2024)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit.fitting import build_dataset, make_objective, make_parameters
from scalefit.fitting.optimize import Problem, multistart
from scalefit.laws import get_law

HERE = Path(__file__).resolve().parent
REF = json.loads((HERE / "reference" / "chinchilla_epoch.json").read_text())
CSV = HERE.parent / "data" / "chinchilla.csv"


def epoch_table() -> pd.DataFrame:
    """data/chinchilla.csv with the 5 highest losses dropped, as Epoch did (240 points)."""
    df = pd.read_csv(CSV)
    df = df.assign(N=df["Model Size"], D=df["Training FLOP"] / (6 * df["Model Size"]))
    return df.sort_values("loss", kind="stable").iloc[:-5][["N", "D", "loss"]]


@pytest.fixture(scope="module")
def epoch_fit():
    return scalefit.fit(epoch_table(), "chinchilla", bootstrap=1000, seed=0)


def test_point_fit_matches_epoch(epoch_fit):
    res, ref, tol = epoch_fit, REF["fit"], REF["tolerances"]
    assert res.n_points == REF["n_points"] == 240
    for k in ("E", "alpha", "beta"):
        assert res.params_[k] == pytest.approx(ref[k], abs=tol[k])
    assert res.params_["A"] == pytest.approx(ref["A"], rel=tol["A_rel"])
    assert res.params_["B"] == pytest.approx(ref["B"], rel=tol["B_rel"])
    assert f"{res.objective_:.5e}" == f"{ref['objective']:.5e}"  # 1.01827e-03


def test_objective_is_scipy_huber_sum():
    from scipy.special import huber

    df = epoch_table()
    law = get_law("chinchilla")
    theta = np.array([1.8172, 477.8, 2143.0, 0.3473, 0.3672])
    pred = law.predict({"N": df["N"].to_numpy(), "D": df["D"].to_numpy()}, theta)
    expected = np.sum(huber(1e-3, np.log(df["loss"].to_numpy()) - np.log(pred)))
    ds = build_dataset(df, law)
    pr = Problem(law, ds.X, ds.y, make_objective("huber"), make_parameters(law))
    assert pr.value_grad(law.to_internal(theta)[None], grad=False)[0] == pytest.approx(
        expected, rel=1e-12)


def test_bootstrap_matches_epoch_intervals(epoch_fit):
    res = epoch_fit
    frac = REF["tolerances"]["interval_end_frac_of_width"]
    for k, (lo, hi) in REF["bootstrap_95"].items():
        width = hi - lo
        got_lo, got_hi = res.ci_[k]
        assert abs(got_lo - lo) <= frac * width, (k, got_lo, lo)
        assert abs(got_hi - hi) <= frac * width, (k, got_hi, hi)
    assert res.derived["a"]["value"] == pytest.approx(REF["a"], abs=REF["tolerances"]["a"])
    assert res.diagnostics["bootstrap"]["converged_fraction"] > 0.99


def test_all_grid_starts_agree_on_the_minimum():
    df = epoch_table()
    law = get_law("chinchilla")
    ds = build_dataset(df, law)
    pr = Problem(law, ds.X, ds.y, make_objective(), make_parameters(law))
    opt = multistart(pr, keep=4)
    assert opt.n_starts >= 4500
    assert opt.spread["rel_range"] < 1e-9
    assert opt.fun == pytest.approx(REF["fit"]["objective"], rel=1e-5)


def test_from_the_csv_path_with_the_reader():
    res = scalefit.fit(CSV, "chinchilla")
    assert res.n_points == 240  # the 5 runs marked exclude (Epoch's dropped points) left out
    assert res.metric == "loss"
    assert res.settings["inputs"]["D"] in ("tokens_total", "C/(6N)")
    # the marked points left out: Epoch's fit
    assert 0.3 < res.params_["alpha"] < 0.4
