"""Curve fits on real per-step logs: a 20,000-point curve is fitted at 1,000 evenly spaced
points (said in a note), and a fit that misses its own curve says its forecasts mean nothing."""

from __future__ import annotations

import numpy as np
import pytest

from scalefit.curves import Curve, fit_curves, get_curve_law
from scalefit.errors import UsageError
from scalefit.fitting.curves import MAX_POINTS
from scalefit.schedules import parse_schedule

TRUTH = {"L0": 3.0, "A": 2.0, "alpha": 0.4, "C": 0.8, "lam": 0.999}


def _per_step_curve(steps: int = 19_560, noise: float = 0.01, seed: int = 0) -> Curve:
    """An llm.c-like log: the loss at every step of a cosine run, with 1% noise per step."""
    sch = parse_schedule(f"cosine:peak=6e-4,warmup=700,steps={steps},final=6e-5")
    st = np.arange(steps)
    c = Curve("llmc", sch.lr(st), st)
    truth = get_curve_law("lr_annealing").predict(c, TRUTH)
    rng = np.random.default_rng(seed)
    return Curve("llmc", c.eta, st, truth * (1 + noise * rng.standard_normal(steps)))


@pytest.fixture(scope="module")
def long_curve():
    return _per_step_curve()


def test_a_long_curve_is_fitted_at_evenly_spaced_points(long_curve):
    res = fit_curves([long_curve], "lr_annealing")
    assert MAX_POINTS == 1000 and res.n_points == 1000
    assert res.settings["max_points"] == 1000
    note = next(n for n in res.diagnostics["notes"] if "evenly spaced" in n)
    assert "1,000 of its 18,860 logged points" in note  # 19,560 less 700 warmup steps
    # the thinned fit recovers the law the noisy points came from
    # (one cosine run pins the annealing amplitude C only loosely: 0.74 from every point)
    for k, rel in (("L0", 0.05), ("A", 0.1), ("alpha", 0.1), ("C", 0.25)):
        assert res.params[k] == pytest.approx(TRUTH[k], rel=rel), k
    final = res.predict(long_curve)["loss_pred"].iloc[-1]
    truth = get_curve_law("lr_annealing").predict(long_curve, TRUTH)[-1]
    assert final == pytest.approx(truth, rel=2e-3)
    # and no warning: 1% noise per step is not a misfit
    assert not any("systematically" in w for w in res.diagnostics["warnings"])


@pytest.mark.slow
def test_every_point_when_asked(long_curve):
    res = fit_curves([long_curve], "lr_annealing", max_points=None)
    assert res.n_points == 18_860 and res.settings["max_points"] is None
    thin = fit_curves([long_curve], "lr_annealing")
    final = [r.predict(long_curve)["loss_pred"].iloc[-1] for r in (res, thin)]
    assert final[0] == pytest.approx(final[1], rel=1e-3)


def test_too_few_points_is_refused(long_curve):
    with pytest.raises(UsageError, match="max_points must be at least 10"):
        fit_curves([long_curve], "lr_annealing", max_points=3)


def test_a_curve_the_law_cannot_follow_is_flagged():
    # a fine-tuning run: the loss falls fast, then climbs as the model overfits; no
    # pretraining curve law follows that
    sch = parse_schedule("cosine:peak=1e-4,warmup=50,steps=3000,final=1e-5")
    steps = np.arange(0, 3000, 10)
    loss = 1.2 + 0.8 * np.exp(-steps / 150) + 1.2e-4 * steps
    res = fit_curves([Curve("finetune", sch.lr(np.arange(3000)), steps, loss)], "lr_annealing")
    (w,) = [w for w in res.diagnostics["warnings"] if "systematically" in w]
    assert w.startswith("finetune: the law misses its own curve") and "not meaningful" in w
    worst = float(w.split("by up to ")[1].split("%")[0])
    assert worst > 2.0
