"""Readers against untrusted input: the same value means the same thing in every format,
export orders, compressed logs, and duplicated runs in a final-loss table."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit.io as sio
from scalefit import cli
from scalefit.errors import InputError
from scalefit.io import read_logs

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


# ----------------------------------------------------------------------------- JSONL vs CSV
@pytest.mark.parametrize("bad", ["true", "false"])
def test_jsonl_boolean_metric_is_refused_like_csv(tmp_path, bad):
    j = tmp_path / "b.jsonl"
    j.write_text(f'{{"step": 1, "loss": 3.0}}\n{{"step": 2, "loss": {bad}}}\n'
                 '{"step": 3, "loss": 2.5}\n')
    c = tmp_path / "b.csv"
    c.write_text(f"step,loss\n1,3.0\n2,{bad}\n3,2.5\n")
    for f in (j, c):
        with pytest.raises(InputError, match=r"'loss'.*(row|line) 2") as exc:
            read_logs(f)
        assert str(f) in str(exc.value)


def test_all_boolean_column_is_a_flag_not_a_metric(tmp_path):
    j = tmp_path / "f.jsonl"
    j.write_text('{"step": 1, "loss": 3.0, "is_eval": false}\n'
                 '{"step": 2, "loss": 2.5, "is_eval": true}\n')
    c = tmp_path / "f.csv"
    c.write_text("step,loss,is_eval\n1,3.0,false\n2,2.5,true\n")
    for f in (j, c):
        d = read_logs(f)
        assert set(d.points["metric"]) == {"loss"}
        np.testing.assert_allclose(d.points["value"], [3.0, 2.5])
        assert any("is_eval" in n and f.name in n for n in d.notes)


def test_jsonl_numeric_string_is_read_as_csv_reads_it(tmp_path):
    j = tmp_path / "s.jsonl"
    j.write_text('{"step": 1, "loss": "2.8"}\n{"step": 2, "loss": 2.5}\n')
    c = tmp_path / "s.csv"
    c.write_text('step,loss\n1,"2.8"\n2,2.5\n')
    got = [read_logs(f).points["value"].to_numpy() for f in (j, c)]
    np.testing.assert_allclose(got[0], [2.8, 2.5], rtol=0, atol=0)
    np.testing.assert_array_equal(got[0], got[1])
    # words mixed with numbers: refused by both, naming the value
    j.write_text('{"step": 1, "loss": "high"}\n{"step": 2, "loss": 2.5}\n')
    c.write_text("step,loss\n1,high\n2,2.5\n")
    for f in (j, c):
        with pytest.raises(InputError, match="'high'") as exc:
            read_logs(f)
        assert str(f) in str(exc.value)


# ----------------------------------------------------------------------------- export order
def test_wandb_export_in_descending_step_order_keeps_every_point(tmp_path):
    f = tmp_path / "190M-1xC.csv"
    steps = list(range(100, -1, -10))
    f.write_text("_step,train/loss\n" + "".join(f"{s},{5 - s / 100}\n" for s in steps))
    d = read_logs(f)
    assert len(d.points) == 11
    np.testing.assert_array_equal(d.points["step"].to_numpy(dtype=int), sorted(steps))
    np.testing.assert_allclose(d.points["value"], [5 - s / 100 for s in sorted(steps)])
    meta = json.loads(d.runs["meta"].iloc[0])
    assert "restarts" not in meta
    assert any("descending" in n and f.name in n for n in d.notes)


def test_descending_panel_export_and_a_real_restart(tmp_path):
    p = tmp_path / "panel.csv"
    p.write_text("Step,190M - loss\n" + "".join(f"{s},{5 - s / 100}\n"
                                                 for s in range(50, -1, -10)))
    assert len(read_logs(p).points) == 6
    # one step back in an otherwise increasing log is still a restart
    r = tmp_path / "r.csv"
    r.write_text("step,loss\n10,5\n20,4\n30,3\n20,3.5\n30,3.2\n40,3.0\n")
    d = read_logs(r)
    assert d.points["step"].tolist() == [10, 20, 30, 40]
    assert json.loads(d.runs["meta"].iloc[0])["restarts"] == 1


# ----------------------------------------------------------------------------- HF without epoch
def test_hf_trainer_state_without_epoch(tmp_path):
    (tmp_path / "run").mkdir()
    hist = [{"step": 10 * i, "loss": 4 - 0.1 * i} for i in range(1, 6)]
    hist.append({"step": 50, "train_runtime": 12.0, "train_loss": 3.7, "total_flos": 1e15})
    (tmp_path / "run" / "trainer_state.json").write_text(json.dumps({"log_history": hist}))
    d = read_logs(tmp_path / "run")
    assert d.points["step"].tolist() == [10, 20, 30, 40, 50]
    np.testing.assert_allclose(d.points["value"], [3.9, 3.8, 3.7, 3.6, 3.5])
    assert d.runs["flops_total"].iloc[0] == 1e15


# ----------------------------------------------------------------------------- gzip
def _gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode()))
    return path


@pytest.mark.parametrize("name,text,fmt", [
    ("190M-1xC.csv.gz", "step,loss\n1,3.0\n2,2.5\n3,2.25\n", "csv"),
    ("190M-1xC.jsonl.gz", '{"step": 1, "loss": 3.0}\n{"step": 2, "loss": 2.5}\n'
                          '{"step": 3, "loss": 2.25}\n', "jsonl"),
    ("190M-1xC.log.gz", "iter 1: loss 3.0000\niter 2: loss 2.5000\niter 3: loss 2.2500\n",
     "nanogpt"),
])
def test_gzip_logs_are_read(tmp_path, name, text, fmt):
    f = _gz(tmp_path / name, text)
    assert sio.sniff(f) == fmt
    d = read_logs(f)
    assert d.runs["run"].tolist() == ["190M-1xC"]
    assert d.runs["params"].iloc[0] == 1.9e8
    assert d.points["step"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(d.points["value"], [3.0, 2.5, 2.25])
    assert d.runs["source"].iloc[0] == str(f)
    # a folder of logs takes .gz logs too
    assert len(read_logs(tmp_path).points) == 3


def test_gzip_bomb_and_corrupt_gzip_are_clear_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sio, "MAX_DECOMPRESSED", 1 << 20)
    f = tmp_path / "bomb.csv.gz"
    f.write_bytes(gzip.compress(b"step,loss\n" + b"1,2.5\n" * 400_000))  # 2.4 MB inflated
    with pytest.raises(InputError, match=r"more than 1 MiB") as exc:
        read_logs(f)
    assert str(f) in str(exc.value)
    assert cli.run(["ingest", str(f), "--store", str(tmp_path / "s")]) == 2
    assert "decompress" in capsys.readouterr().err
    bad = tmp_path / "cut.csv.gz"
    bad.write_bytes(gzip.compress(b"step,loss\n1,3.0\n2,2.5\n" * 50)[:-20])
    with pytest.raises(InputError, match="gzip") as exc:
        read_logs(bad)
    assert str(bad) in str(exc.value)


# ----------------------------------------------------------------------------- final-loss tables
def test_final_table_naming_a_run_twice_is_refused_by_every_path(tmp_path, capsys):
    f = tmp_path / "final.csv"
    f.write_text("run,params,tokens,loss\na,1e8,2e9,3.0\nb,2e8,4e9,2.8\n"
                 "c,4e8,8e9,2.6\na,1e8,2e9,3.1\n")
    with pytest.raises(InputError, match=r"run 'a'.*rows 1 and 4") as exc:
        read_logs(f)
    assert str(f) in str(exc.value)
    from scalefit.fitting.dataset import load_tables

    with pytest.raises(InputError, match=r"run 'a'.*rows 1 and 4"):
        load_tables(pd.read_csv(f))
    with pytest.raises(InputError, match=r"run 'a'.*rows 1 and 4"):
        load_tables(str(f))
    assert cli.run(["fit", str(f), "--law", "chinchilla"]) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "'a'" in err
