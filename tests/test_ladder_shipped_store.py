"""The cpu-tiny ladder shipped in data/: a scaling ladder that fits and backtests on its largest rung."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _ladder_stores import final_val_losses

import scalefit

LADDER = Path(__file__).resolve().parents[1] / "data" / "ladder-cpu-tiny"


@pytest.fixture(scope="module")
def store():
    return scalefit.Store(LADDER, create=False)


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
    assert bt["mean_rel_error"] < 0.02 and bt["max_rel_error"] < 0.03  # measured 1.30% / 2.39%


def test_chinchilla_fits_and_reports_its_backtest(store):
    res = scalefit.fit(store, law="chinchilla", metric="val/loss", holdout="largest:2")
    assert res.backtest["n_heldout"] == 2
    # measured 6.9%: the two-term law with 12 tiny runs underestimates the largest rung's gain
    assert res.backtest["mean_rel_error"] < 0.09
    assert 0.1 < res.params_["alpha"] < 0.6 and 0.1 < res.params_["beta"] < 0.6
    assert "backtest (largest:2): 2 held-out points" in str(res.summary())
