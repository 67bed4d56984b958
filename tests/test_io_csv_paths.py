"""The fast CSV path and the plain ``read_csv`` path read every file alike."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from scalefit.io import csvfile, read_logs

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "data" / "samples" / n for n in ("wide.csv", "wide.tsv", "long.csv",
                                               "wandb_panel.csv", "final_isoflop.csv")]
FILES += [ROOT / "data" / "chinchilla.csv", ROOT / "data" / "multipower" / "25M" / "wsdcon_9.csv",
          ROOT / "data" / "olmo_ladder" / "ladder_runs.csv"]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_fallback_reads_the_same(path, monkeypatch):
    fast = read_logs(path)
    monkeypatch.setattr(csvfile, "_parse_csv", csvfile._parse_csv_dataframe)
    slow = read_logs(path)
    pd.testing.assert_frame_equal(fast.points, slow.points)
    pd.testing.assert_frame_equal(fast.runs.drop(columns=["ingested_at"], errors="ignore"),
                                  slow.runs.drop(columns=["ingested_at"], errors="ignore"))
    assert len(fast.points) > 0


def test_fallback_refuses_broken_files_alike(tmp_path, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_text("step,loss\n1,2.0\n2,abc\n")
    from scalefit.errors import InputError

    with pytest.raises(InputError) as e1:
        read_logs(bad)
    monkeypatch.setattr(csvfile, "_parse_csv", csvfile._parse_csv_dataframe)
    with pytest.raises(InputError) as e2:
        read_logs(bad)
    assert str(e1.value) == str(e2.value)
