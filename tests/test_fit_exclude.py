"""Runs marked `exclude` in the data are left out of fits unless asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import scalefit
from scalefit.cli import run

CHIN = Path(__file__).resolve().parents[1] / "data" / "chinchilla.csv"


def test_embedded_chinchilla_marks_epochs_five_dropped_points():
    res = scalefit.fit(CHIN, "chinchilla", bootstrap=0)
    # Besiroglu et al. drop the 5 highest losses; the embedded table marks exactly those
    assert res.n_points == 240
    assert res.objective_ == pytest.approx(1.01827e-3, rel=1e-4)
    assert any("exclude" in n for n in res.diagnostics["notes"])
    full = scalefit.fit(CHIN, "chinchilla", bootstrap=0, include_excluded=True)
    assert full.n_points == 245
    assert full.params_["B"] > 5 * res.params_["B"]  # the outliers pull B far off


def test_cli_include_excluded(tmp_path, capsys):
    out = tmp_path / "f.json"
    assert run(["fit", str(CHIN), "-b", "0", "--no-plot", "--include-excluded",
                "--json", str(out)]) == 0
    assert json.loads(out.read_text())["n_points"] == 245
    assert "245 points" in capsys.readouterr().out


def test_exclude_column_in_a_users_table(tmp_path):
    rows = ["N,D,loss,exclude"]
    for i, (n, d) in enumerate([(1e8, 2e9), (2e8, 4e9), (4e8, 8e9), (8e8, 1.6e10), (1.6e9, 3.2e10),
                                (1e8, 8e9), (4e8, 2e9), (8e8, 4e9)]):
        loss = 1.7 + 400 / n**0.34 + 400 / d**0.28
        rows.append(f"{n},{d},{loss},{'yes' if i == 7 else ''}")
    rows.append("3e8,6e9,9.9,true")  # a diverged run the user marked
    p = tmp_path / "t.csv"
    p.write_text("\n".join(rows) + "\n")
    res = scalefit.fit(p, law="power:x=C", bootstrap=0)
    assert res.n_points == 7


def test_a_parameter_driven_to_zero_is_flagged_at_its_bound():
    import numpy as np
    import pandas as pd

    # a law without an irreducible term: E collapses to ~0, which is its bound in all but name
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 30))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e12), 30))
    loss = 400 / N**0.3 + 400 / D**0.3
    res = scalefit.fit(pd.DataFrame({"N": N, "D": D, "loss": loss}), bootstrap=0)
    assert res.params_["E"] < 1e-6
    assert "E" in res.diagnostics["at_bound"]
    assert "at a bound" in str(res.summary())


def test_delta_interval_of_a_positive_derived_quantity_stays_positive():
    res = scalefit.fit(CHIN, bootstrap=0, include_excluded=True)
    g = res.derived["G"]
    assert g["interval"] == "delta"
    assert 0 < g["lo"] < g["value"] < g["hi"]
    # log-space interval: symmetric in log
    assert abs((g["hi"] / g["value"]) * (g["lo"] / g["value"]) - 1) < 1e-9


def test_html_view_has_predictions_and_backtest():
    res = scalefit.fit(CHIN, bootstrap=20, holdout="largest:3", predict={"N": 7e10, "D": 1.4e12})
    h = res._repr_html_()
    assert "<th>prediction</th>" in h and "N=7e+10" in h
    v = res.predictions[0]["value"]
    assert f"{v:.5g}" in h
    assert "backtest (largest:3): 3 held-out points" in h
