"""scalefit watch: following a growing log, the forecast and its band, off-track flags, the CLI."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from scalefit.cli import run as cli
from scalefit.errors import InputError
from scalefit.schedules import parse_schedule
from scalefit.watch import EXIT_ABOVE, EXIT_OFF_TRACK, Watcher, forecast_prefix

ROOT = Path(__file__).resolve().parents[1]
# a short WSD run: few LR changes, so each fit takes about a second
SPEC = "wsd:peak=1e-3,warmup=100,steps=6000,decay=0.2,final=1e-4"
TRUTH = {"L0": 2.0, "A": 1.2, "alpha": 0.45, "C": 0.5, "lam": 0.999}
EVERY = 40
NO_FIT = 10**9  # min_new_points that keeps a Watcher from fitting (reading tests)


def _truth(steps) -> np.ndarray:
    from scalefit.curves import Curve, get_curve_law

    sch = parse_schedule(SPEC)
    c = Curve("truth", sch.lr(np.arange(sch.total_steps)), np.asarray(steps))
    return get_curve_law("lr_annealing").predict(c, TRUTH)


def _run(until: int = 6000, noise: float = 0.001, seed: int = 0):
    steps = np.arange(EVERY, until, EVERY)
    rng = np.random.default_rng(seed)
    return steps, _truth(steps) * (1 + noise * rng.standard_normal(steps.size))


def _csv_lines(steps, loss) -> list[str]:
    lr = parse_schedule(SPEC).lr(np.asarray(steps))
    return [f"{s},{r:.6g},{v:.6f}\n" for s, r, v in zip(steps, lr, loss, strict=True)]


def _write_csv(path: Path, steps, loss) -> Path:
    path.write_text("step,lr,loss\n" + "".join(_csv_lines(steps, loss)))
    return path


# ---------------------------------------------------------------------- reading
def test_follows_a_csv_appended_by_another_thread(tmp_path):
    """A writer thread appends batches (one ending in half a line); each poll sees exactly the
    complete lines written so far, and the log is never modified."""
    steps, loss = _run()
    lines = _csv_lines(steps, loss)
    log = tmp_path / "train.csv"
    log.write_text("step,lr,loss\n")
    w = Watcher(log, SPEC, min_new_points=NO_FIT)
    batches = [lines[:10], lines[10:25], lines[25:60], lines[60:]]
    wrote, polled = threading.Event(), threading.Event()
    cut = len(lines[25]) // 2

    def writer():
        with open(log, "a") as f:
            for i, b in enumerate(batches):
                text = "".join(b)
                if i == 2:  # stop inside a line, finish it with the next batch
                    text = "".join(b[:-1]) + b[-1][:cut]
                elif i == 3:
                    text = batches[2][-1][cut:] + text
                f.write(text)
                f.flush()
                wrote.set()
                polled.wait(5)
                polled.clear()

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    try:
        for _ in batches:
            assert wrote.wait(5)
            wrote.clear()
            seen.append(w.poll().n_points)
            polled.set()
    finally:
        t.join(5)
    assert seen == [10, 25, 59, len(lines)]
    got_s, got_l = w.points()
    np.testing.assert_array_equal(got_s, steps)
    np.testing.assert_allclose(got_l, loss, atol=1e-6)


_APPENDER = r"""
import json, sys
path, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pending = ""
with open(path, "a") as f:
    for i in range(0, n, batch):
        f.write(pending)  # the end of the record left half written by the last batch
        pending, last = "", min(i + batch, n)
        for s in range(i, last):
            rec = json.dumps({"step": 40 * (s + 1), "train": {"loss": 4.0 - 0.001 * s}}) + "\n"
            if s == last - 1 and last < n:
                f.write(rec[: len(rec) // 2])
                pending = rec[len(rec) // 2:]
            else:
                f.write(rec)
        f.flush()
        print(last, flush=True)
        sys.stdin.readline()
"""


def test_follows_a_jsonl_log_written_by_another_process(tmp_path):
    import subprocess

    log = tmp_path / "run.jsonl"
    log.touch()
    w = Watcher(log, SPEC, min_new_points=NO_FIT)
    proc = subprocess.Popen([sys.executable, "-c", _APPENDER, str(log), "50", "12"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stdout:
            written = int(line)
            u = w.poll()
            # every complete line is read; a half-written one waits for its end
            seen.append((written, u.n_points))
            proc.stdin.write("\n")
            proc.stdin.flush()
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert seen == [(12, 11), (24, 23), (36, 35), (48, 47), (50, 50)]
    s, v = w.points()
    np.testing.assert_array_equal(s, 40 * np.arange(1, 51))
    np.testing.assert_allclose(v, 4.0 - 0.001 * np.arange(50))
    assert w.metric == "train/loss"


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_half_written_last_line_is_read_later_whole(tmp_path, kind):
    if kind == "csv":
        log = tmp_path / "log.csv"
        head, full = "step,lr,loss\n100,0.001,3.25\n", "200,0.001,3.125\n"
    else:
        log = tmp_path / "log.jsonl"
        head = '{"step": 100, "lr": 0.001, "loss": 3.25}\n'
        full = '{"step": 200, "lr": 0.001, "loss": 3.125}\n'
    log.write_text(head + full[:12])  # "200,0.001,3." or a cut JSON object
    before = log.read_bytes()
    w = Watcher(log, SPEC, min_new_points=NO_FIT)
    u = w.poll()
    assert u.n_points == 1 and u.last_step == 100 and u.last_loss == 3.25
    assert log.read_bytes() == before  # read only
    assert w.poll().new_points == 0
    with open(log, "a") as f:
        f.write(full[12:])
    u = w.poll()
    assert u.n_points == 2 and u.last_step == 200 and u.last_loss == 3.125


def test_restart_replaces_later_points_and_shrunk_log_is_read_again(tmp_path):
    log = tmp_path / "log.csv"
    steps, loss = _run(2000, noise=0)
    _write_csv(log, steps, loss)
    w = Watcher(log, SPEC, min_new_points=NO_FIT)
    assert w.poll().n_points == steps.size
    with open(log, "a") as f:  # resumed from a checkpoint at step 1000
        f.write("1000,0.001,9.0\n")
    s, v = w.points()
    s, v = w.points() if w.poll() else (s, v)
    assert s[-1] == 1000 and v[-1] == 9.0 and s.size == np.sum(steps < 1000) + 1
    _write_csv(log, steps[:5], loss[:5])  # replaced by a shorter file
    u = w.poll()
    assert u.n_points == 5 and any("shrank" in n for n in u.notes)


def test_tensorboard_event_file_followed_as_it_grows(tmp_path):
    pytest.importorskip("torch")
    tb = pytest.importorskip("torch.utils.tensorboard")
    folder = tmp_path / "tb"
    writer = tb.SummaryWriter(str(folder))
    steps, loss = _run(3000, noise=0)
    try:
        for s, v in zip(steps[:20], loss[:20], strict=True):
            writer.add_scalar("train/loss", float(v), int(s))
        writer.flush()
        w = Watcher(folder, SPEC, min_new_points=NO_FIT)
        assert w.poll().n_points == 20
        for s, v in zip(steps[20:], loss[20:], strict=True):
            writer.add_scalar("train/loss", float(v), int(s))
        writer.flush()
        u = w.poll()
    finally:
        writer.close()
    assert u.n_points == steps.size and u.last_step == steps[-1]
    np.testing.assert_allclose(w.points()[1], loss, rtol=1e-6)  # float32 in the file


def test_tensorboard_record_cut_mid_write_is_read_again_later(tmp_path):
    src = next((ROOT / "data" / "samples" / "tensorboard").rglob("*tfevents*"))
    data = src.read_bytes()
    log = tmp_path / src.name
    log.write_bytes(data[:-7])  # the writer is inside its last record
    w = Watcher(log, SPEC, min_new_points=NO_FIT, format="tensorboard")
    u = w.poll()
    assert u.n_points == 0 and any("truncated" in n for n in u.notes)
    log.write_bytes(data)
    u = w.poll()
    assert u.n_points > 20 and u.new_points == u.n_points
    log.write_bytes(data[:-7] + b"")  # cut again (rewritten): the points read stay
    u = w.poll()
    assert u.n_points > 20 and u.new_points == 0 and u.notes


def test_missing_log_and_unknown_metric_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Watcher(tmp_path / "nope.csv", SPEC).poll()
    log = tmp_path / "log.csv"
    log.write_text("step,acc\n10,0.5\n")
    with pytest.raises(InputError, match="--metric") as exc:
        Watcher(log, SPEC).poll()
    assert str(log) in str(exc.value)
    # on the command line too, with or without --schedule (a ladder run's rung.json)
    assert cli(["watch", str(tmp_path / "nope.csv"), "--once"]) == 2
    assert cli(["watch", str(tmp_path / "nope.csv"), "--once", "--schedule", SPEC]) == 2
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    u = Watcher(empty, SPEC).poll()
    assert u.n_points == 0 and u.forecast is None and "waiting" in u.message


# ---------------------------------------------------------------------- the forecast
@pytest.fixture(scope="module")
def half_run():
    steps, loss = _run(3000)
    return steps, loss


def test_forecast_of_a_synthetic_run_holds_its_final_loss(half_run):
    steps, loss = half_run
    final = float(_truth([5999])[0])
    f = forecast_prefix((steps, loss), SPEC)
    assert f.final_step == 5999 and f.law in ("lr_annealing", "multi_power")
    assert abs(f.loss / final - 1) < 0.01
    assert f.holds(final)
    # half way through a WSD run no decay is seen yet: the two laws disagree on it
    assert 0.004 < (f.hi - f.lo) / 2 / f.loss < 0.12
    assert f.off_track is None
    # the band grows with the reach of the forecast
    later = f.pred_hi[-1] - f.pred_lo[-1]
    assert later > f.pred_hi[0] - f.pred_lo[0]


def test_spike_is_flagged_at_its_step_and_size(half_run):
    steps, loss = half_run
    spiked = loss.copy()
    spiked[-1] *= 1.05
    f = forecast_prefix((steps, spiked), SPEC)
    off = f.off_track
    assert off is not None and off.kind == "spike"
    assert off.step == steps[-1] == off.last_step and off.n_points == 1
    assert off.excess_rel == pytest.approx(0.05, abs=0.01)
    assert f"step {steps[-1]}" in off.describe()


@pytest.mark.slow
def test_divergence_plateau_and_nan_are_flagged(half_run):
    steps, loss = half_run
    rising = loss.copy()
    rising[-6:] = loss[-7] * (1 + 0.02 * np.arange(1, 7))
    off = forecast_prefix((steps, rising), SPEC).off_track
    assert off is not None and off.kind == "divergence" and off.step == steps[-6]
    flat = loss.copy()
    flat[-8:] = loss[-9]  # stuck while the forecast falls
    off = forecast_prefix((steps, flat), SPEC).off_track
    assert off is not None and off.kind == "plateau" and off.step <= steps[-3]
    nan = np.r_[loss, np.nan]
    off = forecast_prefix((np.r_[steps, steps[-1] + EVERY], nan), SPEC).off_track
    assert off is not None and off.kind == "divergence" and off.step == steps[-1] + EVERY


def test_too_few_points_waits(tmp_path):
    log = _write_csv(tmp_path / "log.csv", *_run(400))
    u = Watcher(log, SPEC).poll()
    assert u.forecast is None and "needs at least" in u.message


# ---------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("watch")
    steps, loss = _run(3000)
    spiked = loss.copy()
    spiked[-1] *= 1.05
    return {"ok": _write_csv(d / "ok.csv", steps, loss),
            "spike": _write_csv(d / "spike.csv", steps, spiked),
            "final": float(_truth([5999])[0])}


@pytest.mark.slow
def test_once_on_track_exits_0_with_json_and_plot(logs, tmp_path, capsys):
    out, fig = tmp_path / "w.json", tmp_path / "w.png"
    rc = cli(["watch", str(logs["ok"]), "--schedule", SPEC, "--once", "--json", str(out),
              "--plot", str(fig)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "on track" in text and "final loss at step 5,999" in text
    rec = json.loads(out.read_text())
    assert rec["forecast"]["lo"] <= logs["final"] <= rec["forecast"]["hi"]
    assert rec["forecast"]["off_track"] is None and rec["n_points"] == 74
    assert fig.stat().st_size > 10_000 and fig.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_once_off_track_exits_3_and_fail_above_exits_4(logs, capsys):
    rc = cli(["watch", str(logs["spike"]), "--schedule", SPEC, "--once"])
    text = capsys.readouterr().out
    assert rc == EXIT_OFF_TRACK == 3, text
    assert "OFF TRACK" in text and "spike from step 2960" in text
    lo = logs["final"] * 0.98
    rc = cli(["watch", str(logs["ok"]), "--schedule", SPEC, "--once", "--fail-above", str(lo)])
    assert rc == EXIT_ABOVE == 4
    capsys.readouterr()
    hi = logs["final"] * 1.02
    assert cli(["watch", str(logs["ok"]), "--schedule", SPEC, "--once",
                "--fail-above", str(hi)]) == 0


@pytest.mark.slow
def test_follow_mode_stops_at_fail_above_and_at_the_end(logs, tmp_path, capsys):
    lo = logs["final"] * 0.98
    rc = cli(["watch", str(logs["ok"]), "--schedule", SPEC, "--interval", "0",
              "--fail-above", str(lo)])
    assert rc == EXIT_ABOVE
    done = _write_csv(tmp_path / "done.csv", *_run(6000))
    rc = cli(["watch", str(done), "--schedule", SPEC, "--interval", "0"])
    out = capsys.readouterr().out
    assert rc == 0 and "step 5960/6000" in out


@pytest.mark.slow
def test_ctrl_c_exits_0_with_a_last_summary_line(logs, monkeypatch, capsys):
    import scalefit.cli.watch as cw

    def interrupt(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(cw.time, "sleep", interrupt)
    rc = cli(["watch", str(logs["ok"]), "--schedule", SPEC, "--interval", "5"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    assert lines[-1].startswith("step 2960/6000: final loss at step 5999")


def test_bad_options_are_refused(logs, tmp_path, capsys):
    assert cli(["watch", str(logs["ok"]), "--schedule", SPEC, "--once",
                "--plot", str(tmp_path / "x.gif")]) == 2
    assert cli(["watch", str(logs["ok"]), "--schedule", "cosine:steps=-3", "--once"]) == 2
    assert cli(["watch", str(logs["ok"]), "--schedule", SPEC, "--law", "chinchilla",
                "--once"]) == 2
    short = "wsd:peak=1e-3,warmup=100,steps=1000,decay=0.2,final=1e-4"
    assert cli(["watch", str(logs["ok"]), "--schedule", short, "--once"]) == 2
    err = capsys.readouterr().err
    assert "--plot" in err and "--law" in err and "schedule ends at step 999" in err


# ---------------------------------------------------------------------- accuracy
@pytest.mark.slow
def test_prefix_forecasts_of_the_72k_step_runs():
    """The shipped 72,000-step multi-power runs fed in prefixes (benchmarks/watch_prefix.py):
    the final-loss error falls as the prefix grows and the 95% band holds it from half way."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from watch_prefix import prefix_forecasts
    finally:
        sys.path.pop(0)
    rows = prefix_forecasts()
    err = {p: np.mean([abs(r["err"]) for r in rows if r["prefix"] == p])
           for p in (0.10, 0.25, 0.50, 0.75)}
    # falls with the prefix (10% tolerance between neighbours), fourfold from 10% to 75%
    for early, later in ((0.10, 0.25), (0.25, 0.50), (0.50, 0.75)):
        assert err[later] < 1.1 * err[early], err
    assert err[0.75] < 0.25 * err[0.10], err
    assert err[0.50] < 0.006 and err[0.75] < 0.004, err
    late = [r for r in rows if r["prefix"] >= 0.5]
    assert all(r["holds"] for r in late), [(r["size"], r["run"], r["prefix"]) for r in late
                                            if not r["holds"]]
