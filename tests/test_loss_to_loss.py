"""Loss-to-loss fits (Brandfonbrener et al. 2024) with backtests on the largest model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.laws import get_law
from scalefit.tasks import fit_loss_to_loss, pair_losses

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ex(olmo_example):
    return olmo_example


def test_recovers_parameters():
    law = get_law("loss_to_loss")
    true = {"K": 0.8, "kappa": 1.3, "E_x": 1.2, "E_y": 0.9}
    Lx = np.linspace(1.8, 4.0, 60)
    Ly = law.predict({"Lx": Lx}, true) * (1 + np.random.default_rng(0).normal(0, 1e-3, Lx.size))
    p, _ = fit_loss_to_loss(Lx, Ly)
    pred = law.predict({"Lx": Lx}, p)
    assert np.max(np.abs(pred / Ly - 1)) < 5e-3
    assert p["kappa"] == pytest.approx(1.3, rel=0.25)


def test_pairings():
    x = pd.DataFrame({"run": ["a", "a", "b"], "step": [1, 2, 1], "value": [3.0, 2.5, 2.8],
                      "N": [1.0, 1.0, 2.0], "D": [10.0, 20.0, 10.0], "C": [60.0, 120.0, 120.0]})
    y = x.assign(value=x["value"] + 1)
    assert pair_losses(x, y, by="run")["Ly"].tolist() == [4.0, 3.5, 3.8]
    assert len(pair_losses(x, y, by="nd")) == 3
    c = pair_losses(x.iloc[:2], y.iloc[:2].assign(C=[50.0, 200.0]), by="compute")
    assert c["Ly"].iloc[0] == pytest.approx(4.0 - 0.5 * np.log(60 / 50) / np.log(4))


def test_backtests(ex):
    rep = ex.loss_to_loss_report()
    py = rep["pythia: lambada (Pile) -> lambada (dedup Pile), held out 12B"]
    assert py["n_test"] == 14
    assert py["mean_rel_error"] == pytest.approx(0.037, abs=0.01)
    pile = rep["olmo ladder: c4 -> pile, held out 3B"]
    assert pile["mean_rel_error"] < 0.005
    wiki = rep["olmo ladder: c4 -> wikitext_103, held out 3B"]
    assert wiki["mean_rel_error"] < 0.005
    assert rep["olmo ladder: c4 -> dolma_stack, held out 3B"]["mean_rel_error"] < 0.01
