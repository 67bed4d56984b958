"""`scalefit ingest` and `scalefit runs`: the issue's done-when checks through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from scalefit import Store, cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="needs the optional data set kept outside the repository (a shared/data folder beside the clone), which a clone does not have")


def _runs_json(store, capsys) -> list[dict]:
    capsys.readouterr()
    assert cli.run(["runs", "--store", str(store), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
@needs_shared
def test_olmo_ladder_one_run_per_file(tmp_path, capsys):
    files = sorted(str(p) for p in SHARED.glob("olmo_ladder/ladder-runs/*.csv"))
    s = tmp_path / "S"
    assert cli.run(["ingest", *files, "--store", str(s)]) == 0
    runs = _runs_json(s, capsys)
    assert sorted(r["run"] for r in runs) == sorted(Path(f).stem for f in files)
    for r in runs:
        assert {"run", "params", "tokens_total", "flops_total", "n_points", "metrics"} <= set(r)
    by = {r["run"]: r for r in runs}
    raw = pd.read_csv(SHARED / "olmo_ladder" / "ladder-runs" / "1B-10xC.csv")
    assert by["1B-10xC"]["params"] == 1e9
    assert by["1B-10xC"]["tokens_total"] == raw["throughput/total_tokens"].max()
    assert "eval/c4_en-validation/CrossEntropyLoss" in by["1B-10xC"]["metrics"]
    assert len(by["1B-10xC"]["metrics"]) == 91
    # ingesting again changes nothing
    before = sorted(p.name for p in s.iterdir())
    assert cli.run(["ingest", *files, "--store", str(s)]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert sorted(p.name for p in s.iterdir()) == before


@needs_shared
def test_multipower_lr_survives_the_store(tmp_path):
    s = tmp_path / "S"
    assert cli.run(["ingest", str(SHARED / "multipower" / "100M"), "--store", str(s)]) == 0
    st = Store(s)
    assert len(st.runs) == 9
    pts = st.select(runs=["wsdcon_9"])
    raw = pd.read_csv(SHARED / "multipower" / "100M" / "wsdcon_9.csv")
    assert pts["lr"].tolist() == raw["lr"].tolist()


def test_chinchilla_through_the_cli(tmp_path, capsys):
    s = tmp_path / "S"
    assert cli.run(["ingest", str(ROOT / "data" / "chinchilla.csv"), "--store", str(s)]) == 0
    runs = _runs_json(s, capsys)
    assert len(runs) == 245
    assert all(r["params"] and r["tokens_total"] and r["flops_total"] for r in runs)
    assert all(r["n_points"] == 1 and r["metrics"] == ["loss"] for r in runs)


def test_options_and_human_table(tmp_path, capsys):
    s = tmp_path / "S"
    assert cli.run(["ingest", str(SAMPLES / "nanogpt.log"), "--store", str(s), "--run", "tiny",
                    "--params", "25M", "--tokens", "1e9"]) == 0
    assert cli.run(["ingest", str(SAMPLES / "custom.log"), "--store", str(s), "--regex",
                    r"step=(?P<step>\d+) lr=(?P<lr>\S+) loss=(?P<loss>\S+)"]) == 0
    assert cli.run(["ingest", str(SAMPLES / "megatron.log"), "--store", str(s), "--preset",
                    "megatron", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["runs_added"] == ["megatron"]
    runs = {r["run"]: r for r in _runs_json(s, capsys)}
    assert runs["tiny"]["params"] == 25e6 and runs["tiny"]["tokens_total"] == 1e9
    assert runs["tiny"]["flops_total"] == pytest.approx(6 * 25e6 * 1e9)
    assert runs["tiny"]["meta"]["sources"]["params"] == "option params"
    assert cli.run(["runs", "--store", str(s)]) == 0
    table = capsys.readouterr().out
    assert "tiny" in table and "2.5e+07" in table and "megatron" in table


def test_errors_are_one_line(tmp_path, capsys):
    assert cli.run(["runs", "--store", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert cli.run(["ingest", str(SAMPLES / "wide.csv"), "--store", str(tmp_path / "s"),
                    "--params", "-3"]) == 2
    assert "--params" in capsys.readouterr().err
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())
