"""One conformance suite over every loss-curve law (multi_power, lr_annealing and their joint
versions across model sizes): Jacobian against finite differences, shapes, bounds, JSON round
trip, and recovery of a known law from noisy synthetic curves, judged on a schedule it never saw.
"""

from __future__ import annotations

import numpy as np
import pytest

from scalefit.curves import CurveFitResult, fit_curves
from scalefit.curves.data import Curve
from scalefit.curves.laws import CURVE_LAWS, get_curve_law
from scalefit.schedules import parse_schedule

TRUE = {
    "multi_power": {"L0": 2.5, "A": 0.6, "alpha": 0.45, "B": 450.0, "C": 2.0, "beta": 0.6,
                    "gamma": 0.6},
    "lr_annealing": {"L0": 2.4, "A": 0.62, "alpha": 0.46, "C": 0.9, "lam": 0.998},
}
STEPS = 6000
TRAIN = ["cosine:peak=3e-4,warmup=500,steps=6000,final=3e-5",
         "constant:peak=3e-4,warmup=500,steps=6000",
         "wsd:peak=3e-4,warmup=500,steps=6000,decay=0.2,final=3e-5"]
HELD_OUT = "wsd:peak=3e-4,warmup=500,steps=6000,decay=0.5,final=0,shape=1-sqrt"
SIZES = (25e6, 1e8, 4e8)


def _joint_true(base: str) -> dict:
    law = get_curve_law(f"joint_{base}")
    th = {}
    for p in law.params:
        if p.name.endswith("_exp"):
            th[p.name] = -0.05 if p.name.startswith("L0") else 0.1
        else:
            th[p.name] = TRUE[base][p.name]
    return th


LAWS = [(name, TRUE[name]) for name in CURVE_LAWS] + [
    (f"joint_{name}", _joint_true(name)) for name in CURVE_LAWS]


def _curve(spec: str, N: float | None = None, loss=None, every: int = 50) -> Curve:
    sch = parse_schedule(spec)
    steps = np.arange(550, STEPS, every)
    return Curve(spec.split(":")[0], sch.lr(np.arange(sch.total_steps)), steps, loss, N, sch)


def _sizes(name: str):
    return SIZES if name.startswith("joint_") else (None,)


@pytest.mark.parametrize("name, truth", LAWS, ids=[n for n, _ in LAWS])
def test_declaration_and_shapes(name, truth):
    law = get_curve_law(name)
    assert law.param_names == list(truth)
    for p in law.params:
        assert p.lower < truth[p.name] < p.upper, p.name
    for N in _sizes(name):
        c = _curve(TRAIN[0], N)
        pred = law.predict(c, truth)
        assert pred.shape == c.steps.shape and np.all(np.isfinite(pred))
        assert np.all(np.diff(pred) < 0)  # a decaying cosine: the loss falls at every log


@pytest.mark.parametrize("name, truth", LAWS, ids=[n for n, _ in LAWS])
def test_jacobian_matches_finite_differences(name, truth):
    law = get_curve_law(name)
    th = law.theta(truth)
    for N in _sizes(name)[:2]:
        c = _curve(TRAIN[2], N, every=250)
        pred, J = law.grad(c, th)
        np.testing.assert_allclose(pred, law.predict(c, th), rtol=1e-10)
        assert J.shape == (c.steps.size, th.size)
        for i, p in enumerate(law.params):
            h = 1e-6 * max(abs(th[i]), 1e-3)
            up, dn = th.copy(), th.copy()
            up[i] += h
            dn[i] -= h
            fd = (law.predict(c, up) - law.predict(c, dn)) / (2 * h)
            np.testing.assert_allclose(J[:, i], fd, rtol=2e-4, atol=1e-9 * np.abs(pred).max(),
                                       err_msg=f"{name}: d/d{p.name}")


def _noisy_training_curves(name, truth):
    law = get_curve_law(name)
    rng = np.random.default_rng(7)
    curves = []
    for N in _sizes(name):
        for spec in TRAIN:
            y = law.predict(_curve(spec, N), truth)
            curves.append(_curve(spec, N, y * np.exp(rng.normal(0, 1e-3, y.size))))
    return curves


def _worst_unseen_error(name, truth, res) -> float:
    law = get_curve_law(name)
    back = CurveFitResult.from_json(res.to_json())
    worst = 0.0
    for N in _sizes(name):
        test = _curve(HELD_OUT, N)
        truth_loss = law.predict(test, truth)
        got = back.predict(test)["loss_pred"].to_numpy()
        worst = max(worst, float(np.max(np.abs(got - truth_loss) / truth_loss)))
    return worst


@pytest.mark.parametrize("name, truth", LAWS, ids=[n for n, _ in LAWS])
def test_recovers_a_known_law_and_predicts_an_unseen_schedule(name, truth):
    # the exact optimum (L-BFGS-B): with 0.1% noise on the training curves, the unseen
    # schedule within 0.1% everywhere (measured 0.03-0.07%), and the fit at the noise level
    res = fit_curves(_noisy_training_curves(name, truth), name, method="lbfgs")
    assert _worst_unseen_error(name, truth, res) < 1e-3
    assert all(e["mean_rel"] < 1.2e-3 for e in res.diagnostics["fit_errors"].values())
    assert res.params["L0"] == pytest.approx(truth["L0"], rel=0.01)


EARLY_STOPPED = [(n, t) for n, t in LAWS if get_curve_law(n).default_method != "lbfgs"]


@pytest.mark.parametrize("name, truth", EARLY_STOPPED, ids=[n for n, _ in EARLY_STOPPED])
def test_default_method_recovers_too(name, truth):
    # multi_power's default is the paper's early-stopped Adam recipe: measured 0.31%
    res = fit_curves(_noisy_training_curves(name, truth), name)
    assert _worst_unseen_error(name, truth, res) < 5e-3
