"""TensorBoard event files: scalars, scalar tensors, truncated and corrupt files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import InputError
from scalefit.io import read_logs, sniff

pytest.importorskip("tensorboard")

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def _event_file(folder: Path) -> Path:
    return next(folder.rglob("*tfevents*"))


def test_sample_logdir():
    d = read_logs(SAMPLES / "tensorboard")
    assert d.runs["run"].tolist() == ["25M-wsdcon_3"]
    assert set(d.points["metric"]) == {"train/loss"}  # train/lr went to the lr column
    assert d.points["lr"].notna().all()
    assert d.runs["params"].iloc[0] == 25e6
    steps = d.points["step"].to_numpy(dtype=int)
    assert np.all(np.diff(steps) > 0)
    assert sniff(_event_file(SAMPLES / "tensorboard")) == "tensorboard"


def test_scalar_tensors_and_runs_per_subfolder(tmp_path):
    torch = pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter

    for name in ("a", "b"):
        w = SummaryWriter(str(tmp_path / "logs" / name))
        for i in range(5):
            w.add_scalar("loss", 4.0 - 0.5 * i, i * 10, new_style=True)  # a scalar tensor
        w.add_histogram("weights", torch.arange(5.0), 0)
        w.close()
    d = read_logs(tmp_path / "logs")
    assert sorted(d.runs["run"]) == ["a", "b"]
    pts = d.points[d.points["run"] == "a"]
    np.testing.assert_allclose(pts["value"], [4.0, 3.5, 3.0, 2.5, 2.0])


@pytest.mark.parametrize("cut", [7, 30])
def test_truncated_file_is_an_error_naming_it(tmp_path, cut):
    src = _event_file(SAMPLES / "tensorboard")
    dst = tmp_path / src.name
    data = src.read_bytes()
    dst.write_bytes(data[:-cut])
    with pytest.raises(InputError, match="truncated") as exc:
        read_logs(dst)
    assert str(dst) in str(exc.value)


def test_garbage_event_file(tmp_path):
    p = tmp_path / "events.out.tfevents.123.host"
    p.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(InputError) as exc:
        read_logs(p)
    assert str(p) in str(exc.value)
    empty = tmp_path / "e" / "events.out.tfevents.1.h"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_logs(empty)
    shutil.rmtree(tmp_path / "e")


def _write_events(path: Path, n: int) -> list[int]:
    """An event file of ``n`` scalar records (steps 10..10n); returns each record's offset."""
    import struct

    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    out, offsets = bytearray(), []
    for i in range(1, n + 1):
        ev = event_pb2.Event(step=10 * i, wall_time=1.0 + i, summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="loss", simple_value=5.0 - 0.05 * i)]))
        data = ev.SerializeToString()
        head = struct.pack("<Q", len(data))
        offsets.append(len(out))
        out += head + struct.pack("<I", masked_crc32c(head)) + data
        out += struct.pack("<I", masked_crc32c(data))
    path.write_bytes(bytes(out))
    return offsets


def test_bad_data_crc_mid_file_is_skipped_with_a_note(tmp_path, capsys):
    from scalefit import cli

    f = tmp_path / "run" / "events.out.tfevents.1.host"
    f.parent.mkdir()
    offsets = _write_events(f, 50)
    raw = bytearray(f.read_bytes())
    raw[offsets[24] + 14] ^= 0xFF  # a byte of record 25's data: its data CRC fails
    f.write_bytes(bytes(raw))
    d = read_logs(f)
    steps = d.points["step"].to_numpy(dtype=int)
    assert len(d.points) == 49 and 250 not in steps
    np.testing.assert_array_equal(steps, [10 * i for i in range(1, 51) if i != 25])
    np.testing.assert_allclose(d.points["value"],
                               [5.0 - 0.05 * i for i in range(1, 51) if i != 25], rtol=1e-6)
    note = next(n for n in d.notes if "CRC" in n)
    assert str(f) in note and f"byte offset {offsets[24]}" in note
    assert "record 25 of 50" in note and "49 point(s) kept" in note
    # the ingest summary shows it
    assert cli.run(["ingest", str(f), "--store", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert f"byte offset {offsets[24]}" in out and "49 point(s) kept" in out


def test_bad_length_crc_stops_there_with_a_note(tmp_path):
    f = tmp_path / "run" / "events.out.tfevents.1.host"
    f.parent.mkdir()
    offsets = _write_events(f, 50)
    raw = bytearray(f.read_bytes())
    raw[offsets[24] + 1] ^= 0x01  # record 25's length: nothing after it can be framed
    f.write_bytes(bytes(raw))
    d = read_logs(f)
    assert d.points["step"].tolist() == [10 * i for i in range(1, 25)]
    note = next(n for n in d.notes if "CRC" in n)
    assert str(f) in note and f"byte offset {offsets[24]}" in note
    assert "24 point(s) kept" in note and "not read" in note
