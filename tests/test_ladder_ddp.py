"""Data-parallel training under torchrun (gloo on CPU) logs the same curve as one process."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from scalefit.ladder.data import build_corpus  # noqa: E402
from scalefit.store import Store  # noqa: E402


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path):
    corpus = build_corpus(tmp_path / "corpus", offline=True, max_bytes=2_000_000, log=lambda m: None)
    args = ["-m", "scalefit.ladder.train", "--preset", "cpu-smoke", "--rung", "L1-d32-t10",
            "--max-steps", "16", "--corpus", str(corpus.path), "--device", "cpu"]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", *args, "--store", str(tmp_path / "ddp")],
                         capture_output=True, text=True, timeout=180)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "2 process(es)" in ddp.stdout
    one = subprocess.run([sys.executable, *args, "--store", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=180)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = Store(tmp_path / "ddp"), Store(tmp_path / "one")
    assert a.run_names() == b.run_names() == ["cpu-smoke/L1-d32-t10"]
    for metric in ("train/loss", "val/loss"):
        pa = a.select(metric=metric).sort_values("step")
        pb = b.select(metric=metric).sort_values("step")
        np.testing.assert_array_equal(pa["step"].to_numpy(), pb["step"].to_numpy())
        # the two ranks' half-batches average to the one-process gradient (float rounding only)
        np.testing.assert_allclose(pa["value"].to_numpy(), pb["value"].to_numpy(), atol=2e-4)
