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
