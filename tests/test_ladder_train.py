"""Training ladder rungs into a store: schema rows, SIGKILL + resume, stacking, the CLI."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalefit.cli import run as cli  # noqa: E402
from scalefit.ladder.data import build_corpus  # noqa: E402
from scalefit.ladder.plan import make_plan  # noqa: E402
from scalefit.ladder.pool import run_plan  # noqa: E402
from scalefit.ladder.train import train_group  # noqa: E402
from scalefit.store import Store  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"), offline=True, max_bytes=3_000_000,
                        log=lambda m: None)


def _curve(store, run):
    p = Store(store).select(runs=[run])
    return {m: g.sort_values("step")[["step", "value"]].to_numpy(dtype=float)
            for m, g in p.groupby("metric")}


@pytest.mark.slow
def test_store_rows_and_losses_fall_with_size(tmp_path, corpus):
    torch.set_num_threads(1)
    plan = make_plan("cpu-smoke")
    assert len(plan.rungs) == 2
    res = run_plan(plan, store_path=tmp_path / "s", corpus=corpus, workers=1, threads=1)
    st = Store(tmp_path / "s")
    runs = st.runs.set_index("run")
    small, big = "cpu-smoke/L1-d32-t10", "cpu-smoke/L1-d48-t10"
    assert runs.loc[small, "params"] == 12 * 32**2 + 3 * 32
    assert runs.loc[big, "params_total"] == 12 * 48**2 + 3 * 48 + 2 * 256 * 48
    meta = json.loads(runs.loc[small, "meta"])
    assert meta["counts"]["flops_per_token"] == 6 * (12 * 32**2 + 256 * 32) + 12 * 32 * 64
    assert runs.loc[small, "flops_total"] == pytest.approx(
        meta["counts"]["flops_per_token"] * runs.loc[small, "tokens_total"])
    assert runs.loc[small, "params_convention"].startswith("non-embedding")
    assert json.loads(runs.loc[small, "schedule"])["family"] == "cosine"
    final = {n: v for r in res for n, v in r["final"].items()}
    assert final[big] < final[small] - 0.02  # validation loss falls with size
    assert final[small] < 3.2  # far below log(256) = 5.55: it learned (measured 3.01)
    c = _curve(tmp_path / "s", small)
    steps = c["train/loss"][:, 0]
    assert np.all(np.diff(steps) > 0) and steps[-1] == plan.rungs[0].steps
    assert c["val/loss"][-1, 1] == pytest.approx(final[small], abs=1e-6)
    pts = st.select(runs=[small], metric="val/loss")
    np.testing.assert_allclose(pts["tokens"], pts["step"].astype(float) * 16 * 64)
    # a finished run is not trained twice; --resume skips it
    with pytest.raises(Exception, match="already complete"):
        train_group([plan.rungs[0]], corpus=corpus, store_path=tmp_path / "s", preset="cpu-smoke")
    again = train_group([plan.rungs[0]], corpus=corpus, store_path=tmp_path / "s",
                        preset="cpu-smoke", resume=True)
    assert again["skipped"]


KILLER = textwrap.dedent("""
    import os, signal, sys, torch
    torch.set_num_threads(1)
    from scalefit.ladder.data import open_corpus
    from scalefit.ladder.plan import make_plan
    from scalefit.ladder.train import train_group
    corpus, store, kill_at, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    plan = make_plan("cpu-smoke", max_steps=40, seeds=2)
    rungs = [r for r in plan.rungs if r.name.startswith("L1-d32")]
    def progress(ev):
        if ev["step"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    train_group(rungs[:int(sys.argv[5])], corpus=open_corpus(corpus), store_path=store,
                preset="cpu-smoke", resume=resume, progress=progress)
""")


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 2], ids=["plain", "stacked"])
def test_sigkill_and_resume_match_an_uninterrupted_run(tmp_path, corpus, k):
    script = tmp_path / "killer.py"
    script.write_text(KILLER)

    def go(store, kill_at, resume):
        return subprocess.run([sys.executable, str(script), str(corpus.path), str(store),
                               str(kill_at), "1" if resume else "0", str(k)],
                              capture_output=True, text=True, timeout=120)

    ref = go(tmp_path / "ref", -1, False)
    assert ref.returncode == 0, ref.stderr
    first = go(tmp_path / "cut", 27, False)  # killed 3 steps after the checkpoint at step 24
    assert first.returncode == -signal.SIGKILL
    before = Store(tmp_path / "cut").points
    assert before["step"].max() == 24
    second = go(tmp_path / "cut", -1, True)
    assert second.returncode == 0, second.stderr
    runs = Store(tmp_path / "ref").run_names()
    assert len(runs) == k
    for run in runs:
        a, b = _curve(tmp_path / "ref", run), _curve(tmp_path / "cut", run)
        assert set(a) == set(b) == {"train/loss", "val/loss"}
        for m in a:
            np.testing.assert_array_equal(a[m][:, 0], b[m][:, 0])  # no gaps, no repeats
            np.testing.assert_allclose(b[m][:, 1], a[m][:, 1], rtol=0, atol=1e-5)
        log = tmp_path / "cut" / "ladder-runs" / run.replace("/", "__") / "log.jsonl"
        steps = [(r["metric"], r["step"]) for r in map(json.loads, log.read_text().splitlines())]
        assert len(steps) == len(set(steps))
    assert not list((tmp_path / "cut" / "ladder-runs").rglob("checkpoint.pt"))


def test_stacked_lr_sweep_through_the_cli(tmp_path, corpus, capsys):
    rc = cli(["ladder", "run", "--preset", "cpu-smoke", "--store", str(tmp_path / "s"),
              "--corpus", str(corpus.path), "--rung", "L1-d32-t10", "--lr-mult", "0.3,1",
              "--max-steps", "30", "--stack", "always", "--workers", "1", "--threads", "1",
              "--quiet", "--schedule", "wsd:decay=0.2"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "next: scalefit fit --store" not in out.out  # two runs of one size: nothing to backtest
    st = Store(tmp_path / "s")
    # the rule's LR keeps the rung's plain name
    assert sorted(st.run_names()) == ["cpu-smoke/L1-d32-t10", "cpu-smoke/L1-d32-t10-lr0.3"]
    runs = st.runs.set_index("run")
    lo, hi = (json.loads(runs.loc[f"cpu-smoke/L1-d32-t10{m}", "schedule"]) for m in ("-lr0.3", ""))
    assert lo["family"] == hi["family"] == "wsd"
    assert lo["peak"] == pytest.approx(0.3 * hi["peak"])
    assert json.loads(runs.iloc[0]["meta"])["stacked_models"] == 2
    lrs = st.select(runs=["cpu-smoke/L1-d32-t10"], metric="train/loss")["lr"].to_numpy()
    assert lrs.max() == pytest.approx(hi["peak"]) and lrs[-1] < hi["peak"]


def test_resume_adds_seeds_and_lrs_to_a_finished_ladder(tmp_path, corpus, capsys):
    """A ladder trained once, then again with --seeds 2 --lr-mult 0.5,1 --resume: the first run
    keeps its name, its log and its points; only the three new runs train."""
    base = ["ladder", "run", "--preset", "cpu-smoke", "--store", str(tmp_path / "s"), "--corpus",
            str(corpus.path), "--rung", "L1-d32-t10", "--max-steps", "20", "--workers", "1",
            "--threads", "1", "--quiet"]
    assert cli(base) == 0, capsys.readouterr().err
    capsys.readouterr()
    first = "cpu-smoke/L1-d32-t10"
    log = tmp_path / "s" / "ladder-runs" / first.replace("/", "__") / "log.jsonl"
    text, mtime = log.read_text(), log.stat().st_mtime_ns
    curve = _curve(tmp_path / "s", first)
    assert cli(base + ["--seeds", "2", "--lr-mult", "0.5,1"]) == 2  # without --resume: refused
    assert "--resume" in capsys.readouterr().err
    assert cli(base + ["--seeds", "2", "--lr-mult", "0.5,1", "--resume", "--stack", "always"]) == 0
    out = capsys.readouterr().out
    assert f"{first}: params" in out and "(done before)" in out
    assert out.count("(done before)") == 1 and out.count("run ") >= 4
    assert log.read_text() == text and log.stat().st_mtime_ns == mtime
    st = Store(tmp_path / "s")
    assert sorted(st.run_names()) == sorted(
        [first, f"{first}-s1", f"{first}-lr0.5", f"{first}-lr0.5-s1"])
    got = _curve(tmp_path / "s", first)
    for m in curve:
        np.testing.assert_array_equal(got[m], curve[m])  # not trained twice, not duplicated
    runs = st.runs.set_index("run")
    assert json.loads(runs.loc[f"{first}-s1", "meta"])["stacked_models"] == 3


def test_resume_refuses_a_store_that_names_seed_0_the_older_way(tmp_path, corpus, capsys):
    """An older scalefit named seed 0 `-s0`: resuming would train it again under its plain
    name, and the store would hold it twice. Refused before anything trains."""
    old = tmp_path / "s" / "ladder-runs" / "cpu-smoke__L1-d32-t10-s0"
    old.mkdir(parents=True)
    (old / "done.json").write_text("{}")
    args = ["ladder", "run", "--preset", "cpu-smoke", "--store", str(tmp_path / "s"), "--corpus",
            str(corpus.path), "--rung", "L1-d32-t10", "--max-steps", "5", "--workers", "1",
            "--seeds", "2", "--resume", "--quiet"]
    assert cli(args) == 2
    err = capsys.readouterr().err
    assert "'cpu-smoke/L1-d32-t10' as 'L1-d32-t10-s0'" in err and "new --store" in err
    assert sorted(p.name for p in old.parent.iterdir()) == ["cpu-smoke__L1-d32-t10-s0"]


def test_cli_plan_and_errors(capsys):
    assert cli(["ladder", "plan", "--preset", "cpu-tiny", "--no-probe", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    rungs = plan["rungs"]
    params = {(r["n_layer"], r["d_model"]): 12 * r["n_layer"] * r["d_model"] ** 2 for r in rungs}
    assert len(params) >= 5 and max(params.values()) / min(params.values()) >= 20
    for r in rungs:
        n = 12 * r["n_layer"] * r["d_model"] ** 2 + (2 * r["n_layer"] + 1) * r["d_model"]
        assert r["steps"] * r["batch_size"] * r["seq_len"] >= 10 * n
    assert cli(["ladder", "plan", "--budget", "1e13", "--no-probe"]) == 0
    capsys.readouterr()
    assert cli(["ladder", "plan", "--preset", "nope", "--no-probe"]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert cli(["ladder", "plan", "--preset", "cpu-tiny", "--budget", "1e12", "--no-probe"]) == 2
    assert "exactly one" in capsys.readouterr().err


def test_existing_log_needs_resume(tmp_path, corpus):
    plan = make_plan("cpu-smoke", max_steps=6)
    train_group([plan.rungs[0]], corpus=corpus, store_path=tmp_path, preset="x", stop_after=5)
    with pytest.raises(Exception, match="--resume"):
        train_group([plan.rungs[0]], corpus=corpus, store_path=tmp_path, preset="x")
    out = train_group([plan.rungs[0]], corpus=corpus, store_path=tmp_path, preset="x", resume=True)
    assert not out["skipped"] and os.path.exists(tmp_path / "ladder-runs" / "x__L1-d32-t10" / "done.json")


def test_cli_run_suggests_the_fit_and_compiles_only_on_gpu(tmp_path, corpus, capsys):
    rc = cli(["ladder", "run", "--preset", "cpu-smoke", "--store", str(tmp_path / "s"),
              "--corpus", str(corpus.path), "--max-steps", "4", "--workers", "1",
              "--threads", "1", "--quiet"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert (f"next: scalefit fit --store {tmp_path / 's'} --law power:x=C --metric val/loss "
            "--holdout largest:1") in out.out.replace("\n", " ")
    meta = [json.loads(m) for m in Store(tmp_path / "s").runs["meta"]]
    assert [m["compiled"] for m in meta] == [False, False]  # the default on CPU
