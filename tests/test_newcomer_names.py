"""Sizes read from run names are said where they are used; predict refuses inputs the law
does not use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scalefit.cli import run as cli
from scalefit.io import read_logs
from scalefit.planning import PUBLISHED_FIT_PATH

ROOT = Path(__file__).resolve().parents[1]
CHINCHILLA_FIT = PUBLISHED_FIT_PATH
# Chinchilla's law as Besiroglu et al. refit it: the final losses of the runs written below
E, A, B, ALPHA, BETA = 1.8172, 477.8, 2143.0, 0.3473, 0.3672


def _runs(folder: Path) -> list[str]:
    """Runs named by size and Chinchilla multiple (``30M-2xC``): no config, no size column."""
    names = []
    for n in (10e6, 30e6, 100e6, 300e6):
        for k in (1, 2, 4):
            d = 20 * k * n
            loss = E + A / n**ALPHA + B / d**BETA
            steps = np.arange(100, 1001, 100)
            rows = ["step,loss"] + [f"{s},{loss + 0.5 * (1000 - s) / 1000:.6f}" for s in steps]
            name = f"{n / 1e6:g}M-{k}xC"
            (folder / f"{name}.csv").write_text("\n".join(rows) + "\n")
            names.append(name)
    return names


def test_sizes_from_names_in_ingest_runs_and_fit(tmp_path, capsys):
    logs = tmp_path / "logs"
    logs.mkdir()
    names = _runs(logs)
    store = tmp_path / "st"
    assert cli(["ingest", str(logs), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"read {len(names)} files (1 format)" in out
    # ingest names six and counts the rest; `runs` lists every one
    assert len(names) > 6 and out.count("read from the run's name") == 6
    assert f"and {len(names) - 6} more runs sized from their names" in out
    assert "100M-1xC: params N = 1e+08, tokens D = 2e+09 read from the run's name" in out
    assert cli(["runs", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert out.count("read from the run's name") == len(names)
    assert "30M-2xC: params N = 3e+07, tokens D = 1.2e+09 read from the run's name" in out
    assert cli(["fit", "--store", str(store), "--law", "chinchilla", "--bootstrap", "0",
                "--holdout", "none", "--no-plot", "--json", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    assert "note: 10M-1xC: params N = 1e+07" in out
    assert "more runs sized from their names" in out
    fit = json.loads((tmp_path / "f.json").read_text())
    notes = fit["diagnostics"]["notes"]
    assert sum("read from the run's name" in n for n in notes) == 6
    # the law is recovered from the sizes the names give
    assert fit["params"]["alpha"] == pytest.approx(ALPHA, rel=0.05)


def test_config_number_beats_the_name(tmp_path):
    (tmp_path / "1B-run.csv").write_text("step,loss\n1,3.0\n2,2.9\n3,2.8\n")
    (tmp_path / "1B-run.yaml").write_text("n_params: 1.2e9\n")
    data = read_logs(tmp_path / "1B-run.csv")
    assert data.runs["params"].iloc[0] == pytest.approx(1.2e9)
    meta = json.loads(data.runs["meta"].iloc[0])
    assert meta["sources"]["params"] == "1B-run.yaml:n_params"
    from scalefit.store import sizes_from_names

    assert sizes_from_names(data.runs) == []
    alone = read_logs(tmp_path / "1B-run.csv", format="csv")  # the config is still beside it
    assert alone.runs["params"].iloc[0] == pytest.approx(1.2e9)
    (tmp_path / "1B-run.yaml").unlink()
    guessed = read_logs(tmp_path / "1B-run.csv")
    assert guessed.runs["params"].iloc[0] == pytest.approx(1e9)
    assert sizes_from_names(guessed.runs)[0].startswith("1B-run: params N = 1e+09")


def _predict(capsys, *at):
    rc = cli(["predict", str(CHINCHILLA_FIT), *[x for a in at for x in ("--at", a)], "--json"])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


def test_predict_input_the_law_does_not_use(capsys):
    rc, base, _ = _predict(capsys, "N=1e9,D=2e10")
    assert rc == 0
    # C that 6·N·D gives: not used, said so, and the prediction is the same
    rc, same, err = _predict(capsys, "N=1e9,D=2e10,C=1.2e20")
    assert rc == 0 and "C not used" in err
    assert same[0]["value"] == pytest.approx(base[0]["value"], rel=1e-12)
    assert set(same[0]["inputs"]) == {"N", "D"}
    # C that contradicts N and D: refused, naming the law's inputs
    rc, _, err = _predict(capsys, "N=1e9,D=2e10,C=1e24")
    assert rc == 2 and "not C" in err and "6·N·D" in err
    # C with N alone sets D = C/(6N): used
    rc, filled, err = _predict(capsys, "N=1e9,C=1.2e20")
    assert rc == 0 and "not used" not in err
    assert filled[0]["value"] == pytest.approx(base[0]["value"], rel=1e-9)
    rc, _, err = _predict(capsys, "C=1e24")
    assert rc == 2 and "N" in err and "D" in err
