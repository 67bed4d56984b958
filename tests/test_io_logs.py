"""JSON Lines, HF Trainer state, Lightning CSVLogger, MLflow file store and stdout readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.errors import InputError, UsageError
from scalefit.io import read_logs, sniff

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_jsonl_sample_and_nested_keys():
    f = SAMPLES / "log.jsonl"
    assert sniff(f) == "jsonl"
    recs = [json.loads(x) for x in f.read_text().splitlines()]
    d = read_logs(f)
    assert set(d.points["metric"]) == {"train/loss"}
    np.testing.assert_allclose(d.points["value"], [r["train"]["loss"] for r in recs])
    np.testing.assert_allclose(d.points["lr"], [r["lr"] for r in recs])


def test_jsonl_keeps_logged_nan(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"step": 1, "loss": 3.0}\n{"step": 2, "loss": NaN}\n{"step": 3, "val": 2.0}\n')
    d = read_logs(p)
    loss = d.points[d.points["metric"] == "loss"]
    assert len(loss) == 2 and np.isnan(loss["value"].iloc[1])
    assert len(d.points[d.points["metric"] == "val"]) == 1


def test_hf_trainer_state_sample():
    folder = SAMPLES / "hf" / "100M-cosine"
    assert sniff(folder) == "hf"
    state = json.loads((folder / "trainer_state.json").read_text())
    d = read_logs(folder)
    hist = [h for h in state["log_history"] if "loss" in h]
    assert d.runs["run"].tolist() == ["100M-cosine"] and d.runs["params"].iloc[0] == 1e8
    assert set(d.points["metric"]) == {"loss"}  # epoch, runtimes and the mean train_loss are not curves
    np.testing.assert_allclose(d.points["value"], [h["loss"] for h in hist])
    np.testing.assert_allclose(d.points["lr"], [h["learning_rate"] for h in hist])
    m = json.loads(d.runs["meta"].iloc[0])
    assert m["max_steps"] == 24000 and "train_loss_mean" in m


def test_lightning_sample():
    folder = SAMPLES / "lightning" / "100M-wsd" / "version_0"
    assert sniff(folder) == "lightning" and sniff(folder / "metrics.csv") == "lightning"
    d = read_logs(folder)
    raw = pd.read_csv(folder / "metrics.csv")
    assert d.runs["run"].tolist() == ["100M-wsd/version_0"]
    assert set(d.points["metric"]) == {"train_loss"}
    np.testing.assert_allclose(d.points["value"], raw["train_loss"].dropna())
    np.testing.assert_allclose(d.points["lr"], raw["lr-AdamW"].dropna())  # lr rows joined by step
    assert d.runs["lr_max"].iloc[0] == 3e-4
    assert json.loads(d.runs["meta"].iloc[0])["total_steps"] == 24000


def test_mlflow_sample():
    root = SAMPLES / "mlruns"
    assert sniff(root) == "mlflow"
    d = read_logs(root)
    assert d.runs["run"].tolist() == ["400M-cosine"] and d.runs["params"].iloc[0] == 4e8
    loss_file = next(root.rglob("metrics/train/loss"))
    rows = [ln.split() for ln in loss_file.read_text().splitlines()]
    np.testing.assert_allclose(d.points["value"], [float(r[1]) for r in rows])
    assert d.points["step"].tolist() == [int(r[2]) for r in rows]
    assert d.points["lr"].notna().all() and set(d.points["metric"]) == {"train/loss"}
    assert d.runs["lr_max"].iloc[0] == 3e-4  # params/learning_rate


def test_nanogpt_and_megatron_samples(tmp_path):
    assert sniff(SAMPLES / "nanogpt.log") == "nanogpt"
    d = read_logs(SAMPLES / "nanogpt.log")
    lines = [ln for ln in (SAMPLES / "nanogpt.log").read_text().splitlines()
             if ln.startswith("iter ")]
    assert len(d.points) == len(lines)
    assert d.points["value"].iloc[0] == float(lines[0].split("loss ")[1].split(",")[0])
    p = tmp_path / "train.log"
    p.write_text("iter 0: loss 10.9000, time 1.0ms, mfu -100.00%\n"
                 "step 250: train loss 4.1000, val loss 4.2000\n"
                 "iter 250: loss 4.0500, time 1.0ms, mfu 12.00%\n")
    d = read_logs(p)
    pts = d.points.set_index(["metric", "step"])["value"]
    assert pts[("val_loss", 250)] == 4.2 and pts[("loss", 0)] == 10.9

    assert sniff(SAMPLES / "megatron.log") == "megatron"
    m = read_logs(SAMPLES / "megatron.log")
    assert set(m.points["metric"]) == {"lm loss"} and m.points["lr"].notna().all()
    assert m.runs["batch_size"].iloc[0] == 256
    assert json.loads(m.runs["meta"].iloc[0])["total_steps"] == 24000
    p = tmp_path / "meg.log"
    p.write_text(" iteration      100/    1000 | learning rate: 3.000E-04 | lm loss: 3.210E+00 |\n"
                 " validation loss at iteration 100 | lm loss value: 3.300E+00 | lm loss PPL: 27.1 |\n")
    m = read_logs(p, preset="megatron")
    vals = m.points.set_index("metric")["value"]
    assert vals["lm loss"] == 3.21 and vals["val/lm loss"] == 3.3


def test_regex_reader(tmp_path):
    rx = r"step=(?P<step>\d+) lr=(?P<lr>\S+) loss=(?P<loss>\S+)"
    d = read_logs(SAMPLES / "custom.log", regex=rx)
    lines = (SAMPLES / "custom.log").read_text().splitlines()
    assert len(d.points) == len(lines) and d.points["lr"].notna().all()
    p = tmp_path / "x.txt"
    p.write_text("a 1.5\nb 1.0\n")
    d = read_logs(p, regex=r"\w (?P<loss>\S+)")  # no step group: line order
    assert d.points["step"].tolist() == [0, 1]
    with pytest.raises(UsageError):
        read_logs(p, regex="(unclosed")
    with pytest.raises(UsageError):
        read_logs(p, regex=r"\w \S+")
    with pytest.raises(InputError, match="not a number"):
        read_logs(p, regex=r"(?P<step>\w) (?P<loss>\S+)")
    with pytest.raises(UsageError):
        read_logs(p, preset="fairseq")
