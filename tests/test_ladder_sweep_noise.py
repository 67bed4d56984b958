"""Which LRs of a sweep the seeds cannot tell apart from the best."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scalefit.ladder.sweep import lrs_within_noise

LRS = [4e-3, 8e-3, 1.6e-2, 3.2e-2, 6.4e-2]


def test_lrs_within_two_standard_errors_of_the_best_mean():
    # means 2.30, 2.20, 2.10, 2.12, 2.40; each LR's three seeds at mean -0.03, 0, +0.03
    means = np.array([2.30, 2.20, 2.10, 2.12, 2.40])
    y = means[None, :] + np.array([-0.03, 0.0, 0.03])[:, None]
    se = 0.03 / np.sqrt(3)  # sd 0.03 over 3 seeds, the same at every LR
    tied = lrs_within_noise(LRS, y)
    # 2.12 - 2.10 = 0.02 < 2 * sqrt(2) * se = 0.049; 2.20 - 2.10 = 0.10 is not
    assert 0.02 < 2 * np.sqrt(2) * se < 0.10
    assert tied == [1.6e-2, 3.2e-2]
    # a wider tolerance takes in the next LR, a narrower one leaves the best alone
    assert lrs_within_noise(LRS, y, z=6.0) == [8e-3, 1.6e-2, 3.2e-2]
    assert lrs_within_noise(LRS, y, z=0.5) == [1.6e-2]


def test_one_seed_cannot_tell_and_diverged_lrs_are_never_tied():
    assert lrs_within_noise(LRS, [[2.3, 2.2, 2.1, 2.12, 2.4]]) is None
    y = np.array([[2.3, 2.2, 2.1, 2.11, np.nan], [2.3, 2.2, 2.12, 2.1, 2.1]])
    assert lrs_within_noise(LRS, y) == [1.6e-2, 3.2e-2]


@pytest.mark.slow  # a seconds-long sweep with two seeds through the CLI
def test_sweep_json_and_log_say_which_lrs_are_within_noise(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")  # the sweep trains; the helper above needs no torch
    from scalefit.cli import run as cli
    from scalefit.ladder import data

    rng = np.random.default_rng(0)
    text = rng.integers(0, 256, 40_000).astype(np.uint16)

    class _Corpus:
        vocab_size, hash = 256, "test"
        train, val = text[:30_000], text[30_000:]

    monkeypatch.setattr(data, "resolve_corpus", lambda *a, **k: _Corpus())
    out = tmp_path / "sweep.json"
    assert cli(["ladder", "sweep", "--out", str(out), "--widths", "16", "--lrs",
                "2e-3,8e-3,3.2e-2", "--param", "mup", "--steps", "8", "--batch", "2",
                "--seq-len", "16", "--head-dim", "8", "--threads", "1", "--seeds", "2"]) == 0
    w = json.loads(out.read_text())["widths"][0]
    assert w["lrs_within_noise"] == lrs_within_noise(w["lrs"], w["losses_per_seed"])
    assert w["lrs"][int(np.argmin(w["losses"]))] in w["lrs_within_noise"]
    cap = capsys.readouterr()
    assert "within 2 standard errors of the best over 2 seeds" in cap.out + cap.err
