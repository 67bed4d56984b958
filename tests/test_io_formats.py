"""Format detection: the FORMATS table names each format's sniffers, and the order in which
they are asked decides the files that two formats could claim."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from scalefit.errors import InputError
from scalefit.io import FORMATS, sniff
from scalefit.io.formats import folder_format
from scalefit.io.head import Head


def _write(path: Path, data: str | bytes = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def test_every_sniffer_named_in_the_table_exists():
    for f in FORMATS.values():
        assert callable(f.reader), f.name
        for fn in (f.layout, f.content):
            if fn is not None:
                mod = __import__(f"scalefit.io.{f.module}", fromlist=[fn])
                assert callable(getattr(mod, fn)), f"{f.name}: {fn}"
    sniffing = [f for f in FORMATS.values() if f.layout or f.content]
    assert len({f.rank for f in sniffing}) == len(sniffing), "two formats share a rank"
    # only the regex reader cannot be recognised: its pattern is the user's
    assert {f.name for f in FORMATS.values()} - {f.name for f in sniffing} == {"regex"}


def test_a_folder_marker_wins_over_event_files_below_it(tmp_path):
    hf = tmp_path / "hf"
    _write(hf / "trainer_state.json", '{"log_history": []}')
    _write(hf / "runs" / "x" / "events.out.tfevents.1")
    assert sniff(hf) == "hf"
    ml = tmp_path / "ml"
    _write(ml / "meta.yaml")
    (ml / "metrics").mkdir()
    _write(ml / "wandb-summary.json", "{}")
    assert sniff(ml) == "mlflow"
    _write(tmp_path / "tb" / "sub" / "events.out.tfevents.2")
    assert sniff(tmp_path / "tb") == "tensorboard"
    assert folder_format(tmp_path / "tb" / "sub") == "tensorboard"
    _write(tmp_path / "plain" / "a.csv", "step,loss\n1,2\n")
    assert folder_format(tmp_path / "plain") is None
    with pytest.raises(InputError, match="no known log layout"):
        sniff(tmp_path / "plain")


def test_a_name_decides_before_the_content_is_read(tmp_path):
    # an empty trainer_state.json is the Trainer reader's to refuse, not "an empty file"
    assert sniff(_write(tmp_path / "a" / "trainer_state.json")) == "hf"
    lit = _write(tmp_path / "lit" / "metrics.csv", "step,loss\n1,2\n")
    assert sniff(lit) == "csv"
    _write(lit.with_name("hparams.yaml"))
    assert sniff(lit) == "lightning" and sniff(lit.with_name("hparams.yaml")) == "lightning"


@pytest.mark.parametrize(("name", "text", "fmt"), [
    ("a.json", '{"log_history": [{"step": 1, "loss": 2.0}]}', "hf"),
    ("a.json", '{"step": 1, "loss": 2.0}\n', "jsonl"),
    ("a.json", '[{"step": 1}]', "jsonl"),
    ("a.json", '{"note": "brain.Event", "log_history": []}', "tensorboard"),
    ("a.csv", "_step,loss\n1,2\n", "wandb"),
    ("a.csv", "Step,run1 - loss\n1,2\n", "wandb-panel"),
    ("a.csv", "N,D,loss\n1,2,3\n", "final"),
    ("a.txt", "run,step,metric,value\na,1,loss,2\n", "csv"),
    # stdout patterns are asked before a CSV suffix, and Megatron before nanoGPT
    ("a.csv", "hello\n iteration 10/ 100 | lm loss: 3.2 |\n", "megatron"),
    ("a.log", "iter 100: loss 3.2100\n iteration 10/ 100 | lm loss: 3 |\n", "megatron"),
    ("a.log", "iter 100: loss 3.2100, time 10ms\n", "nanogpt"),
    ("a.tsv", "hello\nworld\n", "csv"),
    # a header announces a table: its rows are not a stdout log
    ("a.log", "a,step\niter 100: loss 3.2100\n", "csv"),
])
def test_content_decides_in_rank_order(tmp_path, name, text, fmt):
    assert sniff(_write(tmp_path / name, text)) == fmt


def test_what_no_format_reads_is_a_clear_error(tmp_path):
    cases = [("a.txt", "hello\nworld\n", "not a known log format"),
             ("a.csv", "", "the file is empty"),
             ("b.csv", "step,loss\n1,2\n".encode("utf-16"), "UTF-16 text"),
             ("c.csv", b"\x00\x01binary", "binary content"),
             ("d.csv.gz", b"\x1f\x8b\x08garbage", "corrupt or truncated gzip")]
    for name, data, message in cases:
        with pytest.raises(InputError, match=message):
            sniff(_write(tmp_path / name, data))


def test_a_gzip_file_is_known_by_its_content_and_inner_name(tmp_path):
    f = _write(tmp_path / "run.log.gz", gzip.compress(b"iter 1: loss 3.0\n"))
    head = Head(f)
    assert head.gz and head.name == "run.log" and head.suffix == ".log"
    assert sniff(f) == "nanogpt"
    assert sniff(_write(tmp_path / "x" / "trainer_state.json.gz", gzip.compress(b""))) == "hf"


def test_the_head_is_read_only_when_a_sniffer_asks(tmp_path):
    f = _write(tmp_path / "a.csv", "step,loss\n1,2\n")
    head = Head(f)
    assert "raw" not in vars(head)
    assert head.kind == "wide" and len(head.raw) == f.stat().st_size
