"""`scalefit predict FIT.json --curve/--schedule` on a loss-curve fit, through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.cli import run

MP = Path(__file__).resolve().parents[1] / "data" / "multipower" / "25M"


@pytest.fixture(scope="module")
def curve_fit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mp") / "mp.json"
    files = [str(MP / f"{n}.csv") for n in ("cosine_24000", "constant_24000", "wsdcon_9")]
    assert run(["fit", *files, "--law", "multi_power", "--json", str(out)]) == 0
    return out


@pytest.mark.slow
def test_predict_curve_with_lr_logged_every_50_steps(curve_fit, tmp_path, capsys):
    full = pd.read_csv(MP / "wsd_20000_24000.csv")
    steps = np.arange(2200, 24000, 50)
    sparse = pd.DataFrame({"step": steps, "lr": np.interp(steps, full["step"], full["lr"]),
                           "loss": np.interp(steps, full["step"], full["loss"])})
    src = tmp_path / "sparse.csv"
    sparse.to_csv(src, index=False)
    out = tmp_path / "pred.csv"
    assert run(["predict", str(curve_fit), "--curve", str(src), "-o", str(out)]) == 0
    pred = pd.read_csv(out)
    assert list(pred.columns[:3]) == ["step", "lr", "loss_pred"] and "loss" in pred.columns
    assert pred["step"].tolist() == steps.tolist()
    rel = (pred["loss_pred"] - pred["loss"]).abs() / pred["loss"]
    # interpolated observations of a held-out schedule: the fit predicts them within ~1%
    assert rel.mean() < 0.005 and rel.max() < 0.02
    # the decay phase lowers the predicted loss, as the schedule does
    assert pred["loss_pred"].iloc[-1] < pred.loc[pred["step"] == 19950, "loss_pred"].iloc[0] - 0.05


@pytest.mark.slow
def test_predict_schedule_spec(curve_fit, tmp_path, capsys):
    out = tmp_path / "s.csv"
    spec = "wsd:peak=3e-4,warmup=2160,steps=24000,decay=0.2,final=3e-5,shape=linear"
    assert run(["predict", str(curve_fit), "--schedule", spec, "-o", str(out)]) == 0
    pred = pd.read_csv(out)
    assert pred["lr"].iloc[-1] == pytest.approx(3e-5, rel=0.05)
    # the warmup's rows have no prediction (the law blows up there: tens of nats); every
    # row from the peak on has one
    warm = pred["step"] < 2160
    assert warm.sum() == 89 and pred.loc[warm, "loss_pred"].isna().all()
    assert np.all(np.isfinite(pred.loc[~warm, "loss_pred"]))
    assert pred.loc[~warm, "loss_pred"].max() < 4.2 and pred["loss_pred"].iloc[-1] < 4.0
    assert "89 row(s) before step 2160 (the warmup)" in capsys.readouterr().out


def test_predict_curve_options_on_a_final_fit_are_refused(tmp_path, capsys):
    fit_json = tmp_path / "c.json"
    assert run(["fit", str(Path(__file__).resolve().parents[1] / "data" / "chinchilla.csv"),
                "--bootstrap", "0", "--no-plot", "--json", str(fit_json)]) == 0
    capsys.readouterr()
    assert run(["predict", str(fit_json), "--curve", "x.csv"]) == 2
    assert "loss-curve fit" in capsys.readouterr().err
