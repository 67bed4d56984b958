"""`scalefit tasks` on a store holding the OLMo ladder."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import scalefit.cli.tasks  # noqa: F401  (registers the command)
from scalefit.cli import run

ROOT = Path(__file__).resolve().parents[1]


def _example():
    """examples/olmo_ladder.py, loaded once per test session (it caches the CSV it reads)."""
    name = "scalefit_example_olmo_ladder"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "olmo_ladder.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules[name] = mod
    return sys.modules[name]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    mod = _example()
    path = tmp_path_factory.mktemp("ladder") / "store"
    mod.ladder_store(path)
    return path, mod.FIT_RUNS


def test_tasks_command(store_dir, tmp_path, capsys):
    path, runs = store_dir
    out = tmp_path / "pred.json"
    fig = tmp_path / "fig.png"
    args = ["tasks", "--store", str(path), "--task", "mmlu", "--target",
            "N=13202396160,D=5e12,name=13B", "--boot", "0", "--json", str(out), "--plot", str(fig)]
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
    rc = run(["tasks", "--store", str(path), "--task", "mmlu", "--target", "N=1e9", "--boot", "0"])
    assert rc == 2
    assert "error:" in capsys.readouterr().err
