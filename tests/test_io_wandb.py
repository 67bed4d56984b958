"""W&B readers: run-history export, panel export, run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.io import read_logs, sniff

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_history_export_sample():
    f = SAMPLES / "wandb_history" / "190M-1xC.csv"
    assert sniff(f) == "wandb"
    d = read_logs(f)
    raw = pd.read_csv(f)
    run = d.runs.iloc[0]
    assert run["run"] == "190M-1xC" and run["params"] == 1.9e8
    assert run["tokens_total"] == raw["throughput/total_tokens"].max()
    assert sorted(d.points["metric"].unique()) == sorted(raw.columns[1:4])
    np.testing.assert_allclose(
        d.points.loc[d.points["metric"] == raw.columns[1], "value"], raw[raw.columns[1]])
    assert d.points["lr"].notna().all()


def test_history_without_tokens_column_derives_chinchilla_tokens(tmp_path):
    f = tmp_path / "370M-2xC.csv"
    f.write_text("_step,train/CrossEntropyLoss\n100,5.0\n200,4.0\n")
    d = read_logs(f)
    run = d.runs.iloc[0]
    assert run["tokens_total"] == pytest.approx(2 * 20 * 3.7e8)
    assert json.loads(run["meta"])["sources"]["tokens_total"].startswith("derived")


def test_panel_export_sample():
    f = SAMPLES / "wandb_panel.csv"
    assert sniff(f) == "wandb-panel"
    d = read_logs(f)
    raw = pd.read_csv(f)
    assert sorted(d.runs["run"]) == ["190M-1xC", "370M-1xC"]
    assert set(d.points["metric"]) == {"eval/c4_en-validation/CrossEntropyLoss"}
    col = "370M-1xC - eval/c4_en-validation/CrossEntropyLoss"
    pts = d.points[d.points["run"] == "370M-1xC"]
    assert len(pts) == raw[col].notna().sum()
    np.testing.assert_allclose(pts["value"], raw[col].dropna())
    assert any("__MIN/__MAX" in n for n in d.notes)


def test_run_folder_sample(tmp_path):
    folder = SAMPLES / "wandb_run" / "offline-run-20240101_000000-190M1xC"
    assert sniff(folder) == "wandb-run"
    d = read_logs(folder)
    run = d.runs.iloc[0]
    assert run["run"] == "190M1xC"
    assert run["params"] == 190354176  # from config.yaml, over the name
    assert run["seq_len"] == 2048
    summary = json.loads((folder / "files" / "wandb-summary.json").read_text())
    assert len(d.points) == 3 and (d.points["step"] == summary["_step"]).all()
    m = json.loads(run["meta"])
    assert m["sources"]["params"] == "config.yaml:n_params"
    # also through the summary file itself
    d2 = read_logs(folder / "files" / "wandb-summary.json")
    assert d2.runs["run"].tolist() == ["190M1xC"]
    # a folder without summary
    bare = tmp_path / "run-x"
    shutil.copytree(folder, bare)
    (bare / "files" / "wandb-summary.json").unlink()
    from scalefit.errors import InputError

    with pytest.raises(InputError, match="run-x"):
        read_logs(bare, format="wandb-run")
