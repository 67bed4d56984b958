"""Big JSON Lines files go through Arrow's reader: it must read every file exactly as the
line-by-line path does (points, runs, notes), or hand the file back to it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import scalefit.io.jsonl as jsonl_mod
from scalefit.errors import InputError
from scalefit.io import read_logs

CASES = {
    "flat": ['{"step": 1, "train/loss": 3.5, "lr": 0.001}',
             '{"step": 2, "train/loss": 3.25, "lr": 0.002}'],
    "gaps_and_late_keys": ['{"step": 1, "loss": 3.5}', '{"step": 2}',
                           '{"step": 3, "loss": 3.0, "eval/loss": 3.1}', '{"step": 4, "loss": null}'],
    "ints_and_floats": ['{"step": 10, "loss": 4}', '{"step": 20, "loss": 3.5}',
                        '{"step": 30, "loss": 3}'],
    "flag_column": ['{"step": 1, "loss": 3.5, "done": false}',
                    '{"step": 2, "loss": 3.4, "done": true}', '{"step": 3, "loss": 3.3}'],
    "numeric_strings": ['{"step": 1, "loss": "3.5"}', '{"step": 2, "loss": "3.25"}'],
    "text_column": ['{"step": 1, "loss": 3.5, "phase": "warmup"}',
                    '{"step": 2, "loss": 3.4, "phase": "main"}'],
    "words_among_numbers": ['{"step": 1, "loss": "3.5"}', '{"step": 2, "loss": "oops"}',
                            '{"step": 3, "loss": "3.1"}'],
    "mixed_types": ['{"step": 1, "loss": 3.5}', '{"step": 2, "loss": "3.4"}'],
    "bool_among_numbers": ['{"step": 1, "loss": 3.5}', '{"step": 2, "loss": true}'],
    "nested": ['{"step": 1, "train": {"loss": 3.5, "acc": 0.1}, "lr": 1e-3}',
               '{"step": 2, "train": {"loss": 3.4, "acc": 0.2}, "lr": 2e-3}'],
    "lists": ['{"step": 1, "loss": 3.5, "hist": [1, 2]}', '{"step": 2, "loss": 3.4, "hist": [3]}'],
    "nan_literals": ['{"step": 1, "loss": NaN}', '{"step": 2, "loss": 3.4}',
                     '{"step": 3, "loss": Infinity}'],
    "inf_literals": ['{"step": 1, "loss": Infinity}', '{"step": 2, "loss": 3.4}',
                     '{"step": 3, "loss": -Infinity}'],
    "overflow": ['{"step": 1, "loss": 1e400}', '{"step": 2, "loss": 3.4}'],
    "repeated_key": ['{"step": 1, "loss": 3.5, "loss": 3.6}', '{"step": 2, "loss": 3.4}'],
    "blank_lines": ['{"step": 1, "loss": 3.5}', '', '{"step": 2, "loss": 3.4}', ''],
    "all_null_key": ['{"step": 1, "loss": 3.5, "x": null}', '{"step": 2, "loss": 3.4, "x": null}'],
    "descending": ['{"step": 3, "loss": 3.0}', '{"step": 2, "loss": 3.2}',
                   '{"step": 1, "loss": 3.5}'],
    "restart": ['{"step": 1, "loss": 3.5}', '{"step": 2, "loss": 3.4}', '{"step": 1, "loss": 3.6}'],
    "non_integer_step": ['{"step": 1.5, "loss": 3.5}', '{"step": 2, "loss": 3.4}'],
    "huge_int": ['{"step": 1, "loss": 3.5, "n": 123456789012345678901234567890}'],
    "broken_line": ['{"step": 1, "loss": 3.5}', '{"step": 2, "loss": '],
    "not_objects": ['{"step": 1, "loss": 3.5}', '[1, 2]'],
    "array": ['[{"step": 1, "loss": 3.5}, {"step": 2, "loss": 3.4}]'],
    "no_metric": ['{"step": 1}', '{"step": 2}'],
    "tokens_axis": ['{"step": 1, "loss": 3.5, "tokens": 1000}',
                    '{"step": 2, "loss": 3.4, "tokens": 2000}'],
}


def _read(path, arrow: bool, monkeypatch):
    monkeypatch.setattr(jsonl_mod, "ARROW_MIN_BYTES", 0 if arrow else 1 << 62)
    try:
        d = read_logs(path)
    except InputError as exc:
        return ("error", str(exc))
    return d.points, d.runs.drop(columns="ingested_at"), d.notes


@pytest.mark.parametrize("case", sorted(CASES))
def test_arrow_path_reads_as_the_line_path(case, tmp_path, monkeypatch):
    f = tmp_path / "190M-log.jsonl"
    f.write_text("\n".join(CASES[case]) + "\n", encoding="utf-8")
    slow = _read(f, False, monkeypatch)
    fast = _read(f, True, monkeypatch)
    if isinstance(slow[0], str) or isinstance(fast[0], str):
        assert fast == slow
        return
    pd.testing.assert_frame_equal(fast[0], slow[0])
    pd.testing.assert_frame_equal(fast[1], slow[1])
    assert fast[2] == slow[2]


def test_arrow_path_is_taken_for_a_big_flat_log(tmp_path, monkeypatch):
    f = tmp_path / "run.jsonl"
    f.write_text("\n".join(json.dumps({"step": i, "loss": 3 + 1 / i, "ok": i % 2 == 0})
                           for i in range(1, 2001)) + "\n", encoding="utf-8")
    monkeypatch.setattr(jsonl_mod, "ARROW_MIN_BYTES", 0)
    assert jsonl_mod._arrow_table(f) is not None
    d = read_logs(f)
    assert len(d.points) == 2000
    assert d.points["value"].iloc[-1] == pytest.approx(3 + 1 / 2000, rel=1e-12)


def test_a_record_of_thousands_of_keys_stays_on_the_line_path(tmp_path, monkeypatch):
    f = tmp_path / "wide.jsonl"
    f.write_text(json.dumps({"step": 1, **{f"m/{k}": 1.0 for k in range(5000)}}) + "\n",
                 encoding="utf-8")
    monkeypatch.setattr(jsonl_mod, "ARROW_MIN_BYTES", 0)
    assert jsonl_mod._arrow_table(f) is None
    assert len(read_logs(f).points) == 5000
