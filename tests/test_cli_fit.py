"""`scalefit fit`, `predict`, `laws` and `compare` from the command line."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.cli import run
from scalefit.laws import get_law

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "chinchilla.csv"


def test_fit_with_no_options(in_tmp, capsys):
    # the default law is auto: on Epoch's points no law beats the laws with an irreducible loss
    # clearly, so the forecast averages their eight fits, weighted by their size-wise backtests
    assert run(["fit", str(CSV), "--bootstrap", "40", "--predict", "N=7e10,D=1.4e12"]) == 0
    out = capsys.readouterr().out
    assert "predictions: the weighted average of 8 fits of laws with an irreducible loss" in out
    assert "backtest (size:7,10)" in out and "  chosen: overtrain" in out
    assert "240 points" in out and "95% bootstrap" in out
    assert "left out 5 run(s) marked exclude" in out
    m = re.search(r"loss at N=7e\+10, D=1\.4e\+12: (\S+)  \[(\S+), (\S+)\]", out)
    assert m, out
    value, lo, hi = map(float, m.groups())
    assert value == pytest.approx(1.963, abs=2e-3) and lo < value < hi
    fig = in_tmp / "chinchilla_auto_forecast.png"  # <data stem>_<law asked for>
    assert fig.exists() and fig.stat().st_size > 10_000


def test_fit_law_chinchilla_is_epochs_replication(in_tmp, capsys):
    assert run(["fit", str(CSV), "--law", "chinchilla", "--bootstrap", "40"]) == 0
    out = capsys.readouterr().out
    assert "chinchilla: L = E + A/N^alpha + B/D^beta" in out
    assert re.search(r"E +1\.8172 ", out) and re.search(r"alpha +0\.34731 ", out), out
    assert "240 points" in out and "95% bootstrap" in out
    assert "left out 5 run(s) marked exclude" in out
    assert "N_opt ∝ C^a" in out and "D_opt ∝ C^b" in out
    fig = in_tmp / "chinchilla_chinchilla_forecast.png"  # <data stem>_<law>
    assert fig.exists() and fig.stat().st_size > 10_000
    assert f"wrote {fig}" in out


def test_fit_json_then_predict(in_tmp, capsys):
    code = run(["fit", str(CSV), "--law", "chinchilla", "--bootstrap", "30", "--predict",
                "N=7e10,D=1.4e12",
                "--optimal", "1e24", "--holdout", "largest:5", "--fix", "alpha=0.35",
                "--json", "fit.json", "--plot", "figs/f.svg"])
    assert code == 0
    out = capsys.readouterr().out
    assert "loss at N=7e+10, D=1.4e+12" in out and "backtest (largest:5)" in out
    assert (in_tmp / "figs" / "f.svg").exists()
    d = json.loads((in_tmp / "fit.json").read_text())
    assert d["params"]["alpha"] == 0.35 and d["settings"]["fix"] == {"alpha": 0.35}
    assert d["predictions"][0]["inputs"] == {"N": 7e10, "D": 1.4e12}
    assert d["backtest"]["n_heldout"] == 5
    expected = get_law("chinchilla").predict({"N": 7e10, "D": 1.4e12}, d["params"])[0]
    assert run(["predict", "fit.json", "--at", "N=7e10,D=1.4e12", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec[0]["value"] == pytest.approx(expected, rel=1e-12)
    assert rec[0]["lo"] < rec[0]["value"] < rec[0]["hi"]
    assert run(["predict", "fit.json", "--at", "N=70B,D=1.4e12"]) == 0
    assert f"{expected:.5g}" in capsys.readouterr().out


def test_laws_listing(capsys):
    assert run(["laws", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"chinchilla", "power", "kaplan"} <= names
    ch = next(r for r in rows if r["name"] == "chinchilla")
    assert [p["name"] for p in ch["params"]] == ["E", "A", "B", "alpha", "beta"]
    assert run(["laws"]) == 0
    assert "chinchilla" in capsys.readouterr().out


def test_compare(in_tmp, capsys):
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(4e7), np.log(1.6e10), 40))
    D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), 40))
    L = get_law("chinchilla").predict({"N": N, "D": D}, [1.8, 480.0, 2100.0, 0.35, 0.37])
    pd.DataFrame({"N": N, "D": D, "loss": L}).to_csv("t.csv", index=False)
    assert run(["compare", "t.csv", "--law", "power:x=N", "--law", "chinchilla",
                "--holdout", "largest:4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["best"] == "chinchilla"
    assert run(["compare", "t.csv", "--law", "chinchilla", "--law", "power:x=N"]) == 0
    assert "1. chinchilla" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["fit", str(CSV), "--law", "nope", "--no-plot"], "unknown law 'nope'"),
    (["fit", str(CSV), "--metric", "acc", "--no-plot"], "no metric 'acc'"),
    (["fit", str(CSV), "--predict", "N7e10", "--no-plot"], "must look like NAME=VALUE"),
    (["fit", str(CSV), "--fix", "gamma=1", "--no-plot", "--bootstrap", "0"],
     "no parameter 'gamma'"),
    (["fit", str(CSV), "--holdout", "top:3", "--no-plot", "--bootstrap", "0"],
     "holdout spec"),
    (["fit", "missing.csv", "--no-plot"], "missing.csv"),
    (["predict", "missing.json", "--at", "N=1e9,D=1e10"], "no such fit file"),
])
def test_errors_exit_2_with_one_line(in_tmp, capsys, argv, message):
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_curve_law_is_delegated(in_tmp, capsys, monkeypatch):
    from scalefit.cli import curves

    seen = {}
    monkeypatch.setattr(curves, "fit_curves", lambda **kw: seen.update(kw), raising=False)
    assert run(["fit", "curve.csv", "--law", "multi_power", "--no-plot"]) == 0
    assert seen["law"] == "multi_power" and seen["inputs"] == ["curve.csv"]
    monkeypatch.delattr(curves, "fit_curves", raising=False)
    assert run(["fit", "curve.csv", "--law", "multi_power"]) == 2
    assert "loss-curve law" in capsys.readouterr().err


def test_single_curve_says_how_to_fit_it(in_tmp, capsys):
    steps = np.arange(100, 5001, 100)
    pd.DataFrame({"step": steps, "lr": 1e-3, "loss": 3 + 10 / np.sqrt(steps)}).to_csv(
        "run.csv", index=False)
    assert run(["fit", "run.csv", "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert "one run's loss curve" in err and "--law multi_power" in err


def test_fit_a_store(in_tmp, capsys):
    assert run(["ingest", str(CSV), "--store", "st"]) == 0
    capsys.readouterr()
    assert run(["fit", "--store", "st", "--bootstrap", "0", "--no-plot", "--json", "f.json"]) == 0
    out = capsys.readouterr().out
    assert "240 points from 240 runs" in out and "delta method" in out
    assert json.loads((in_tmp / "f.json").read_text())["ci"] is None
    assert run(["fit", "--no-plot"]) == 2
    assert "give log files to fit" in capsys.readouterr().err
