"""The README's tour runs as written: every `scalefit` line of its bash block, from a scratch
folder that sees the repository's data/ (the 4-minute `ladder run` is replaced by the store it
produced, data/ladder-cpu-tiny)."""

from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from scalefit.cli import run as cli

ROOT = Path(__file__).resolve().parents[1]


def _tour() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## A short tour")
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S).group(1)
    return [ln.split("  #")[0].strip() for ln in block.splitlines()
            if ln.strip().startswith("scalefit ")]


def _braces(word: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", word)
    if not m:
        return [word]
    return list(itertools.chain.from_iterable(
        _braces(word[:m.start()] + alt + word[m.end():]) for alt in m.group(1).split(",")))


def test_tour_lines_are_found():
    lines = _tour()
    assert len(lines) >= 15 and lines[0].startswith("scalefit ingest data/")


@pytest.mark.slow
def test_every_tour_line_runs(tmp_path, monkeypatch, capsys):
    # torch is not needed: the one line that trains (`ladder run`) is replaced by its store
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    for line in _tour():
        argv = [w for word in shlex.split(line)[1:] for w in _braces(word)]
        if argv[:2] == ["ladder", "run"]:
            shutil.copytree(ROOT / "data" / "ladder-cpu-tiny", argv[argv.index("--store") + 1])
            continue
        rc = cli(argv)
        out = capsys.readouterr()
        assert rc == 0, f"{line}\n{out.err[-2000:]}"
    # what the tour promises
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["backtest"]["mean_rel_error"] < 0.02  # 7B and 13B from the ladder: 0.71%
    assert (tmp_path / "report.html").stat().st_size > 50_000
    assert (tmp_path / "bootstrap.png").exists() and (tmp_path / "wsd.csv").exists()
    mp = json.loads((tmp_path / "mp.json").read_text())
    assert mp["kind"] == "curve" and len(mp["replicates"]) == 3
