"""The cpu-tiny ladders shipped in data/ (μP, the preset's default, and the SP run it replaced):
scaling ladders that fit and backtest on their largest rung."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _ladder_stores import final_val_losses

import scalefit

DATA = Path(__file__).resolve().parents[1] / "data"
#: store -> (power law in compute: mean, max backtest error; Chinchilla's law: mean), measured
SHIPPED = {"ladder-cpu-tiny": (0.0179, 0.0287, 0.0333),
           "ladder-cpu-tiny-sp": (0.0130, 0.0239, 0.0693)}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def store(request):
    return scalefit.Store(DATA / request.param, create=False)


def _measured(store):
    return SHIPPED[Path(store.path).name]


def test_the_preset_as_shipped(store):
    runs, final, mult = final_val_losses(store)
    assert len(runs) == 14
    n = runs["params"].astype(float)
    assert n.max() / n.min() >= 20
    assert (runs["tokens_total"] >= 10 * n).all()
    # validation loss falls with size at every tokens-per-param multiple
    for m in sorted(set(mult.values())):
        rs = sorted((r for r in runs.index if mult[r] == m), key=lambda r: n[r])
        losses = final[rs].to_numpy()
        assert np.all(np.diff(losses) < -0.05), (m, losses)
    # ... and with data at every size
    for _, grp in runs.groupby("params"):
        rs = sorted(grp.index, key=lambda r: mult[r])
        assert np.all(np.diff(final[rs].to_numpy()) < -0.05)


def test_power_in_compute_backtests_on_the_largest_rung(store):
    res = scalefit.fit(store, law="power:x=C", metric="val/loss", holdout="largest:2")
    bt = res.backtest
    n = store.runs.set_index("run")["params"]
    assert {n[r] for r in bt["heldout_runs"]} == {n.max()}  # both runs of the largest model
    mean, worst, _ = _measured(store)
    assert bt["mean_rel_error"] == pytest.approx(mean, abs=1e-3)
    assert bt["max_rel_error"] == pytest.approx(worst, abs=1e-3)


def test_chinchilla_fits_and_reports_its_backtest(store):
    res = scalefit.fit(store, law="chinchilla", metric="val/loss", holdout="largest:2")
    assert res.backtest["n_heldout"] == 2
    # the two-term law with 12 tiny runs underestimates the largest rung's gain, less under μP
    assert res.backtest["mean_rel_error"] == pytest.approx(_measured(store)[2], abs=1e-3)
    assert 0.1 < res.params_["alpha"] < 0.6 and 0.1 < res.params_["beta"] < 0.6
    assert "backtest (largest:2): 2 held-out points" in str(res.summary())


def test_the_shipped_default_is_what_the_preset_plans_today():
    """data/ladder-cpu-tiny is `ladder run --preset cpu-tiny` as the preset stands: μP from
    base width 20 at each rung's LR of the swept rule (the SP store keeps the rule it had)."""
    from scalefit.ladder.plan import make_plan

    runs = scalefit.Store(DATA / "ladder-cpu-tiny", create=False).runs.set_index("run")
    plan = {f"cpu-tiny/{r.name}": r for r in make_plan("cpu-tiny").rungs}
    assert set(runs.index) == set(plan)
    for name, r in plan.items():
        tags = json.loads(runs.loc[name, "tags"])
        assert (tags["param"], tags["base_width"]) == ("mup", 20) == (r.param, r.base_width)
        assert runs.loc[name, "lr_max"] == pytest.approx(r.lr, rel=1e-12)
    sp = scalefit.Store(DATA / "ladder-cpu-tiny-sp", create=False).runs
    assert {json.loads(t).get("param", "sp") for t in sp["tags"]} == {"sp"}

