"""Same plan, seed and corpus: the same losses, in worker processes or in one, on any number of
cores; and `scalefit ladder run` prints a line per finished run when its output is piped."""

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from scalefit.cli import app  # noqa: E402
from scalefit.ladder.data import build_corpus  # noqa: E402
from scalefit.ladder.plan import make_plan  # noqa: E402
from scalefit.ladder.pool import run_plan  # noqa: E402
from scalefit.store import Store  # noqa: E402

RUNGS = ["L2-d20-t10", "L2-d32-t10"]  # two cpu-tiny shapes, cut to STEPS steps: seconds
STEPS = 100
LINE = re.compile(r"^run (\d+)/(\d+) (\S+): params ([\d,]+) tokens ([\d,]+) "
                  r"val/loss (\d+\.\d{4}) \((\d+\.\d) s\)$")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"), offline=True, max_bytes=3_000_000,
                        log=lambda m: None)


@pytest.fixture(scope="module")
def piped(tmp_path_factory, corpus):
    """`scalefit ladder run` in two worker processes, its stdout captured (not a terminal)."""
    store = tmp_path_factory.mktemp("piped") / "s"
    args = ["ladder", "run", "--preset", "cpu-tiny", "--store", str(store), "--corpus",
            str(corpus.path), "--max-steps", str(STEPS), "--workers", "2"]
    for r in RUNGS:
        args += ["--rung", r]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return store, res.stdout


def _points(store) -> dict:
    pts = Store(store).points.sort_values(["run", "metric", "step"])
    return {k: g[["step", "value"]].to_numpy(dtype=float) for k, g in pts.groupby(["run", "metric"])}


@pytest.mark.slow
def test_piped_run_prints_a_line_per_finished_run(piped):
    store, out = piped
    lines = [m for m in map(LINE.match, out.splitlines()) if m]
    assert len(lines) == len(RUNGS), out
    assert sorted(int(m[1]) for m in lines) == [1, 2] and {m[2] for m in lines} == {"2"}
    runs = Store(store).runs.set_index("run")
    for m in lines:
        name = m[3]
        val = Store(store).select(runs=[name], metric="val/loss").sort_values("step")
        assert float(m[6]) == pytest.approx(val["value"].iloc[-1], abs=5.01e-5)
        assert int(m[4].replace(",", "")) == runs.loc[name, "params"]
        assert int(m[5].replace(",", "")) == runs.loc[name, "tokens_total"]
        assert float(m[7]) > 0


@pytest.mark.slow
def test_same_losses_twice_in_one_process_and_in_workers(piped, corpus, tmp_path, monkeypatch):
    # a machine with many cores: the default is still one thread per process (at 8 threads
    # some CPU kernels sum in another order: L2-d20's losses move by 3.5e-4 in 100 steps)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    plan = make_plan("cpu-tiny", max_steps=STEPS, vocab_size=corpus.vocab_size)
    plan.rungs = plan.select(RUNGS)
    stores = []
    for i in range(2):
        stores.append(tmp_path / f"s{i}")
        run_plan(plan, store_path=stores[-1], corpus=corpus, workers=1)
        assert torch.get_num_threads() == 1
    ref = _points(piped[0])
    assert len(ref) == 2 * len(RUNGS)
    for store in stores:
        got = _points(store)
        assert got.keys() == ref.keys()
        for k in ref:
            np.testing.assert_array_equal(got[k][:, 0], ref[k][:, 0])
            np.testing.assert_allclose(got[k][:, 1], ref[k][:, 1], rtol=0, atol=1e-4, err_msg=str(k))
