"""scalefit watch on the TensorBoard event file a `scalefit ladder` run writes as it trains."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorboard")

from scalefit.cli import run as cli  # noqa: E402
from scalefit.ladder.data import build_corpus  # noqa: E402
from scalefit.ladder.plan import make_plan  # noqa: E402
from scalefit.ladder.runlog import read_log  # noqa: E402
from scalefit.ladder.train import train_group  # noqa: E402
from scalefit.store import Store  # noqa: E402
from scalefit.watch import Watcher  # noqa: E402

RUN = "cpu-tiny/L2-d20-t10"  # 190 steps of a 9.7k-parameter model: seconds


SCHEDULE = "constant:peak=1e-3,steps=191"  # reading only: the watcher needs the run's length


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"), offline=True, max_bytes=3_000_000,
                        log=lambda m: None)


def _points(store, metric):
    p = Store(store).select(runs=[RUN], metric=metric).sort_values("step")
    return p["step"].to_numpy(dtype=int), p["value"].to_numpy(dtype=float)


@pytest.mark.slow
def test_watch_reads_and_forecasts_the_ladder_event_file(tmp_path, corpus, capsys):
    torch.set_num_threads(1)
    plan = make_plan("cpu-tiny")  # this rung: evals every 11 steps, train rows every 2
    rungs = plan.select([RUN.split("/")[1]])
    store = tmp_path / "s"
    folder = store / "ladder-runs" / RUN.replace("/", "__")

    # stopped at step 110 (an eval): the event file, flushed there, holds what the log holds
    train_group(rungs, corpus=corpus, store_path=store, preset="cpu-tiny", stop_after=110)
    (events,) = folder.glob("events.out.tfevents.*")
    log_val = [(r["step"], r["value"]) for r in read_log(folder / "log.jsonl")
               if r["metric"] == "val/loss"]
    w = Watcher(events, SCHEDULE, metric="val/loss", min_new_points=10**9)
    w.poll()
    steps, loss = w.points()
    assert steps.tolist() == [s for s, _ in log_val] == list(range(11, 111, 11))
    np.testing.assert_allclose(loss, [v for _, v in log_val], rtol=0, atol=1e-6)

    # mid-run forecast of the final train loss, from the run folder (schedule from rung.json)
    rc = cli(["watch", str(folder), "--once", "--json", str(tmp_path / "mid.json")])
    assert rc == 0, capsys.readouterr().out
    mid = json.loads((tmp_path / "mid.json").read_text())

    # resumed to the end: the rows past the checkpoint are not repeated, one event file left
    train_group(rungs, corpus=corpus, store_path=store, preset="cpu-tiny", resume=True)
    (events,) = folder.glob("events.out.tfevents.*")
    rc = cli(["watch", str(events), "--once", "--metric", "val/loss",
              "--json", str(tmp_path / "val.json")])
    assert rc == 0, capsys.readouterr().out
    w = Watcher(events, SCHEDULE, metric="val/loss", min_new_points=10**9)
    w.poll()
    steps, loss = w.points()
    st_steps, st_loss = _points(store, "val/loss")
    assert steps.tolist() == st_steps.tolist() == [*range(11, 188, 11), 190]
    np.testing.assert_allclose(loss, st_loss, rtol=0, atol=1e-6)
    val = json.loads((tmp_path / "val.json").read_text())
    assert val["n_points"] == 18 and val["done"]
    assert val["last_loss"] == pytest.approx(st_loss[-1], abs=1e-6)

    tr_steps, tr_loss = _points(store, "train/loss")
    assert mid["n_points"] == int((tr_steps <= 110).sum())
    assert mid["last_loss"] == pytest.approx(tr_loss[tr_steps == 110][0], abs=1e-6)
    f = mid["forecast"]
    assert f["final_step"] == 190
    assert np.isfinite([f["loss"], f["lo"], f["hi"]]).all() and f["lo"] <= f["loss"] <= f["hi"]
    # batches of 4 x 128 tokens make train losses noisy: the forecast made at step 110 of 190
    # brackets the mean of the run's last train losses and lies within 20% of it
    last = tr_loss[-5:].mean()
    assert f["lo"] <= last <= f["hi"] and abs(f["loss"] - last) / last < 0.2, (f, last)
    # at the end, the validation forecast (18 points) is the final val loss to 1%
    g = val["forecast"]
    assert g["final_step"] == 190 and abs(g["loss"] - st_loss[-1]) / st_loss[-1] < 0.01, g
    # the lr tag is the schedule the run trained with, at the logged steps
    w = Watcher(events, SCHEDULE, metric="lr", min_new_points=10**9)
    w.poll()
    lr_steps, lr = w.points()
    lrs = rungs[0].schedule_obj().lr(lr_steps - 1)  # step s is logged once s steps are done
    np.testing.assert_allclose(lr, lrs, rtol=1e-6)


def test_without_schedule_watch_needs_a_ladder_rung_file(tmp_path, capsys):
    log = tmp_path / "train.csv"
    log.write_text("step,loss\n" + "".join(f"{s},{3 - s / 1000:.4f}\n" for s in range(10, 200, 10)))
    assert cli(["watch", str(log), "--once"]) == 2
    err = capsys.readouterr().err
    assert "--schedule" in err and "rung.json" in err
    for text in ('{"name": "L2-d20-t10"}', "[1, 2]", "{not json"):
        (tmp_path / "rung.json").write_text(text)
        assert cli(["watch", str(log), "--once"]) == 2
        assert str(tmp_path / "rung.json") in capsys.readouterr().err
    (tmp_path / "rung.json").write_text(json.dumps({"schedule": "cosine:peak=1e-3,steps=200"}))
    assert cli(["watch", str(log), "--once", "--json", str(tmp_path / "w.json")]) in (0, 3)
    assert json.loads((tmp_path / "w.json").read_text())["total_steps"] == 201


def test_a_file_renamed_while_the_run_folder_is_listed_is_skipped(tmp_path, monkeypatch):
    """The trainer renames its checkpoint's temporary file into place while a watch lists the
    run folder: a file listed but gone by the time it is read is left out, not an error."""
    from pathlib import Path

    from scalefit.watch import _signature

    (tmp_path / "log.jsonl").write_text("{}\n")
    gone = tmp_path / ".checkpoint.pt.tmp-1"
    real_rglob = Path.rglob
    monkeypatch.setattr(Path, "rglob", lambda self, pat: [*real_rglob(self, pat), gone])
    monkeypatch.setattr(Path, "is_file", lambda self: True)  # listed as a file, then renamed
    sig = _signature(tmp_path)
    assert [s[0] for s in sig] == [str(tmp_path / "log.jsonl")] and sig[0][1] == 3
