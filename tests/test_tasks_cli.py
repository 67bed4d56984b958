"""`scalefit tasks` on a store holding the OLMo ladder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import scalefit.cli.tasks  # noqa: F401  (registers the command)
from scalefit.cli import run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory, olmo_example):
    mod = olmo_example
    path = tmp_path_factory.mktemp("ladder") / "store"
    mod.ladder_store(path)
    return path, mod.FIT_RUNS


def test_tasks_command(store_dir, tmp_path, capsys):
    path, runs = store_dir
    out = tmp_path / "pred.json"
    fig = tmp_path / "fig.png"
    args = ["tasks", "--store", str(path), "--task", "mmlu", "--target",
            "N=13202396160,D=5e12,name=13B", "--bootstrap", "0", "--json", str(out), "--plot", str(fig)]
    for r in runs:
        args += ["--runs", r]
    assert run(args) == 0
    assert "13B" in capsys.readouterr().out
    d = json.loads(out.read_text())
    assert d[0]["task"] == "mmlu"
    assert d[0]["targets"][0]["acc"] == pytest.approx(0.503, abs=0.004)
    assert fig.stat().st_size > 10_000


def test_tasks_command_bad_target(store_dir, capsys):
    path, _ = store_dir
    rc = run(["tasks", "--store", str(path), "--task", "mmlu", "--target", "N=1e9", "--bootstrap", "0"])
    assert rc == 2
    assert "error:" in capsys.readouterr().err
