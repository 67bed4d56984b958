"""The fitting engine on NIST StRD nonlinear regression of higher difficulty.

Seven problems (tests/_nist.py, data in tests/reference/nist/), each from both NIST starting
points, fitted by ``scalefit.fit`` as custom laws with plain least squares. Certified digits
are NIST's log relative error; benchmarks/nist_strd.py prints the table next to scipy's and
lmfit's Levenberg-Marquardt.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _nist import LAWS, NAMES, digits, load

import scalefit
from scalefit.fitting import optimize
from scalefit.fitting.objective import make_objective
from scalefit.fitting.optimize import Problem, make_parameters, stationarity
from scalefit.laws import get_law

STARTS = [(name, k) for name in NAMES for k in (0, 1)]


def _fit(name, k):
    p = load(name)
    law = LAWS[name]()
    res = scalefit.fit(p.frame(), law, objective="mse_linear", starts=p.starts[k][None])
    est = np.array([res.params_[n] for n in law.param_names])
    r = p.y - law.predict({"x": p.x}, est)
    return p, res, est, float(r @ r)


@pytest.mark.parametrize(("name", "k"), STARTS, ids=[f"{n}-start{k + 1}" for n, k in STARTS])
def test_certified_digits_from_each_start(name, k):
    p, res, est, rss = _fit(name, k)
    assert digits(est, p.certified).min() >= 6, est
    assert digits(rss, p.rss) >= 6, rss
    assert res.diagnostics["converged"]
    assert 2 * res.objective_ == pytest.approx(p.rss, rel=1e-6)


def _problem(name):
    p = load(name)
    law = LAWS[name]()
    return p, Problem(law, {"x": p.x}, p.y, make_objective("mse_linear"), make_parameters(law))


def test_stationarity_tells_a_minimum_from_a_stalled_point():
    p, pr = _problem("MGH10")
    ok, why = stationarity(pr, p.certified)
    assert ok, why
    ok, why = stationarity(pr, p.starts[0])
    assert not ok and "not at a minimum" in why


def test_a_fit_that_stops_short_does_not_report_converged(monkeypatch):
    """Without the least-squares polish L-BFGS-B stalls far from MGH10's optimum: the result
    must say so instead of claiming convergence."""
    monkeypatch.setattr(optimize, "_ls_polish", lambda problem, v0: None)
    p, res, est, rss = _fit("MGH10", 0)
    assert digits(rss, p.rss) < 4  # it did stop short
    assert not res.diagnostics["converged"]
    assert any("not at a minimum" in w for w in res.diagnostics["warnings"])


def test_polish_keeps_only_improvements_and_skips_robust_objectives():
    """The polish runs for least-squares objectives only; Huber fits are untouched."""
    called = []
    orig = optimize._ls_polish

    def spy(problem, v0):
        called.append(problem.objective.kind)
        return orig(problem, v0)

    mp = pytest.MonkeyPatch()
    mp.setattr(optimize, "_ls_polish", spy)
    try:
        law = get_law("chinchilla")
        rng = np.random.default_rng(0)
        N = np.exp(rng.uniform(np.log(4e7), np.log(1.6e10), 60))
        D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), 60))
        true = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
        y = law.predict({"N": N, "D": D}, true) * np.exp(rng.normal(0, 0.005, 60))
        df = pd.DataFrame({"N": N, "D": D, "loss": y})
        scalefit.fit(df, "chinchilla")
        assert called == []
        res = scalefit.fit(df, "chinchilla", objective="mse")
        assert called and set(called) == {"mse"}
        assert res.diagnostics["converged"]
        assert res.params_["alpha"] == pytest.approx(0.35, abs=0.03)
    finally:
        mp.undo()


def test_negative_predictor_from_the_params_column_is_kept():
    """Thurber's x is negative for 26 of its 37 points; the law declares it with
    Input(positive=False) and reads it from the params column."""
    p = load("Thurber")
    from scalefit.fitting import build_dataset

    ds = build_dataset(p.frame(), LAWS["Thurber"]())
    assert ds.n == 37 and ds.n_dropped == 0
    np.testing.assert_array_equal(ds.X["x"], p.x)
    # an input declared positive still drops the non-positive rows, and says so
    df = pd.DataFrame({"N": [-1.0, 2e8, 3e8, 4e8, 5e8], "D": [1e9, 2e9, 3e9, 4e9, 5e9],
                       "loss": [3.0, 2.9, 2.8, 2.7, 2.6]})
    ds2 = build_dataset(df, get_law("chinchilla"))
    assert ds2.n == 4 and ds2.n_dropped == 1
    assert any("non-positive input (N)" in n for n in ds2.notes)
