"""The ladder trainer under faults: a diverging run, a full disk, an out-of-memory GPU.

Each fault stops training with a ScalefitError that names the run and the step, and loses
nothing already logged: the rows written so far are in the JSONL log and the store, and the
last good checkpoint still loads (with ``weights_only=True``) and resumes.

A process killed mid-run and resumed is tested in tests/test_ladder_train.py
(test_sigkill_and_resume_match_an_uninterrupted_run); that no ``torch.load`` in the package
runs without ``weights_only=True`` is checked over the sources in tests/test_hostile_readers.py.
Everything here runs on the CPU with a one-layer model of width 32 and a few dozen steps.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _hostile_log import hostile_summary, record_check, record_fault  # noqa: F401

torch = pytest.importorskip("torch")

from scalefit import cli  # noqa: E402
from scalefit.errors import ScalefitError, StoreError  # noqa: E402
from scalefit.ladder import train as train_mod  # noqa: E402
from scalefit.ladder.data import build_corpus  # noqa: E402
from scalefit.ladder.plan import make_plan  # noqa: E402
from scalefit.ladder.train import PlainEngine, train_group  # noqa: E402
from scalefit.store import Store  # noqa: E402

PRESET = "hostile"
STEPS, EVAL = 24, 8  # checkpoints at 8, 16, 24; train/loss logged every 2 steps


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"), offline=True, max_bytes=400_000,
                        log=lambda m: None)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _rung(**kw):
    rung = make_plan("cpu-smoke", max_steps=STEPS).rungs[0]
    return dataclasses.replace(rung, eval_every=EVAL, **kw)


def _name(rung) -> str:
    return f"{PRESET}/{rung.name}"


def _log(store: Path, rung) -> list[dict]:
    path = store / "ladder-runs" / _name(rung).replace("/", "__") / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _ckpt(store: Path, rung) -> Path:
    return store / "ladder-runs" / _name(rung).replace("/", "__") / "checkpoint.pt"


def _rows(df: pd.DataFrame) -> list[tuple[str, int, float]]:
    return sorted((str(m), int(s), round(float(v), 6))
                  for m, s, v in zip(df["metric"], df["step"], df["value"], strict=True))


def _nan_after(monkeypatch, n_good: int) -> None:
    """The training step returns a NaN loss from optimizer step ``n_good + 1`` on."""
    real = PlainEngine.train_step
    calls = {"n": 0}

    def step(self, xs, ys, lrs):
        loss = real(self, xs, ys, lrs)
        calls["n"] += 1
        return loss if calls["n"] <= n_good else torch.full_like(loss, math.nan)

    monkeypatch.setattr(PlainEngine, "train_step", step)


# ----------------------------------------------------------------------------- NaN loss
@pytest.mark.slow
def test_nan_loss_stops_the_run_and_keeps_its_curve(tmp_path, corpus, monkeypatch):
    rung = _rung()
    _nan_after(monkeypatch, 11)  # steps 1-11 fine, step 12 NaN: found when step 12 is logged
    record_fault("trainer: NaN loss mid-run")
    with pytest.raises(ScalefitError) as ei:
        train_group([rung], corpus=corpus, store_path=tmp_path, preset=PRESET)
    msg = str(ei.value)
    assert msg.startswith(f"{_name(rung)}: training diverged at step 12: mean train loss nan")
    assert "kept in the store" in msg and "--lr-mult" in msg
    log = _log(tmp_path, rung)
    train_steps = [r["step"] for r in log if r["metric"] == "train/loss"]
    # every finite row up to the divergence: the evaluated ones (to 8) and those since (10)
    assert train_steps == [2, 4, 6, 8, 10]
    assert [r["step"] for r in log if r["metric"] == "val/loss"] == [8]
    assert all(math.isfinite(r["value"]) for r in log)
    pts = Store(tmp_path).select(runs=[_name(rung)])
    ok = _rows(pts) == _rows(pd.DataFrame(log))
    record_check("trainer: curve kept after a NaN loss (store = log)", ok,
                 f"{len(pts)} store rows, {len(log)} log rows")
    assert ok
    assert not (_ckpt(tmp_path, rung).parent / "done.json").exists()  # not marked complete


@pytest.mark.slow
def test_absurd_lr_diverges_with_a_clear_message(tmp_path, corpus):
    rung = _rung(lr=1e6, schedule=f"constant:peak=1e6,warmup=0,steps={STEPS}")
    record_fault("trainer: LR 1e6")
    with pytest.raises(ScalefitError, match=rf"^{_name(rung)}: training diverged at step \d+") as ei:
        train_group([rung], corpus=corpus, store_path=tmp_path, preset=PRESET)
    step = int(str(ei.value).split("diverged at step ")[1].split(":")[0])
    log = _log(tmp_path, rung)
    assert all(math.isfinite(r["value"]) and r["step"] < step for r in log)
    pts = Store(tmp_path).select(runs=[_name(rung)]) if log else pd.DataFrame(
        columns=["metric", "step", "value"])
    assert _rows(pts) == _rows(pd.DataFrame(log, columns=["metric", "step", "value"]))


# ----------------------------------------------------------------------------- full disk
def test_full_disk_at_a_checkpoint_keeps_the_previous_one(tmp_path, corpus, monkeypatch):
    rung = _rung()
    seen: dict[int, pd.DataFrame] = {}

    def progress(ev):
        seen[ev["step"]] = Store(tmp_path).points

    real_save = torch.save

    def full_disk(obj, f, *a, **kw):
        if seen and max(seen) >= EVAL:  # the checkpoint at step 8 was written; 16 is not
            Path(f).write_bytes(b"\x80partial")  # half a file, as a full disk leaves it
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(train_mod.torch, "save", full_disk)
    record_fault("trainer: ENOSPC writing a checkpoint")
    with pytest.raises(StoreError) as ei:
        train_group([rung], corpus=corpus, store_path=tmp_path, preset=PRESET,
                    progress=progress, keep_checkpoint=True)
    msg = str(ei.value)
    assert "No space left on device" in msg and "step 16" in msg
    assert "previous checkpoint is kept" in msg and "--resume" in msg
    assert "checkpoint.pt" in msg  # names the file
    folder = _ckpt(tmp_path, rung).parent
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name]  # no partial file left
    state = torch.load(_ckpt(tmp_path, rung), map_location="cpu", weights_only=True)
    assert state["step"] == EVAL and state["runs"] == [_name(rung)]
    # the store holds what the eval at step 8 put there, nothing more and nothing less
    after = Store(tmp_path).points
    same = _rows(after) == _rows(seen[EVAL])
    record_check("trainer: store unchanged by a failed checkpoint", same)
    assert same
    assert max(r["step"] for r in _log(tmp_path, rung)) == 16  # the log has what was computed

    # disk freed: --resume restarts from step 8, loading the checkpoint with weights_only
    monkeypatch.setattr(train_mod.torch, "save", real_save)
    real_load = torch.load
    loads = []

    def load(*a, **kw):
        loads.append(kw.get("weights_only"))
        return real_load(*a, **kw)

    monkeypatch.setattr(train_mod.torch, "load", load)
    out = train_group([rung], corpus=corpus, store_path=tmp_path, preset=PRESET, resume=True)
    assert loads == [True]
    assert math.isfinite(out["final"][_name(rung)])
    pts = Store(tmp_path).select(runs=[_name(rung)])
    for metric, every in (("train/loss", 2), ("val/loss", EVAL)):
        steps = np.sort(pts.loc[pts["metric"] == metric, "step"].to_numpy(dtype=int))
        np.testing.assert_array_equal(steps, np.arange(every, STEPS + 1, every))
    record_check("trainer: resumed after a full disk, no gaps or repeats")


def test_full_disk_on_the_first_checkpoint(tmp_path, corpus, monkeypatch):
    rung = _rung()

    def full_disk(obj, f, *a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train_mod.torch, "save", full_disk)
    record_fault("trainer: ENOSPC writing the first checkpoint")
    with pytest.raises(StoreError, match="no checkpoint yet"):
        train_group([rung], corpus=corpus, store_path=tmp_path, preset=PRESET)
    assert not _ckpt(tmp_path, rung).exists()
    assert not (tmp_path / "points").exists() or Store(tmp_path).points.empty


# ----------------------------------------------------------------------------- GPU memory
def _oom_at(monkeypatch, step: int) -> None:
    real = PlainEngine.train_step
    calls = {"n": 0}

    def train_step(self, xs, ys, lrs):
        calls["n"] += 1
        if calls["n"] == step:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, xs, ys, lrs)

    monkeypatch.setattr(PlainEngine, "train_step", train_step)


def test_out_of_memory_suggests_a_smaller_batch(tmp_path, corpus, monkeypatch):
    rung = _rung()
    _oom_at(monkeypatch, 11)
    record_fault("trainer: GPU out of memory (simulated)")
    with pytest.raises(ScalefitError) as ei:
        train_group([rung], corpus=corpus, store_path=tmp_path, preset=PRESET)
    assert not isinstance(ei.value, torch.OutOfMemoryError)
    msg = str(ei.value)
    assert msg.startswith(f"{_name(rung)}: out of GPU memory at step 11")
    assert f"batch {rung.batch_size} x {rung.seq_len}" in msg and "smaller batch" in msg
    # the eval at step 8 is in the store and its checkpoint resumes
    pts = Store(tmp_path).select(runs=[_name(rung)])
    assert int(pts["step"].max()) == EVAL
    assert torch.load(_ckpt(tmp_path, rung), weights_only=True)["step"] == EVAL


def test_out_of_memory_from_the_cli_is_one_line(tmp_path, corpus, monkeypatch, capsys):
    _oom_at(monkeypatch, 3)
    record_fault("trainer: GPU out of memory through the CLI")
    rc = cli.run(["ladder", "run", "--preset", "cpu-smoke", "--store", str(tmp_path / "s"),
                  "--corpus", str(corpus.path), "--rung", "L1-d32-t10", "--max-steps", "6",
                  "--workers", "1", "--threads", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith("error: cpu-smoke/L1-d32-t10: out of GPU memory at step 3")
    assert "smaller batch" in errors[0]
    assert "Traceback" not in err
