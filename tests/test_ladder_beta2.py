"""AdamW's beta2 per rung: `ladder plan/run --beta2`, the optimizers, stacking and the store."""

import json
from dataclasses import replace

import pytest

from scalefit.cli import run as cli
from scalefit.errors import UsageError
from scalefit.ladder.config import BETA2
from scalefit.ladder.plan import make_plan, plan_budget


def test_the_plan_carries_beta2_and_keeps_default_rungs_as_they_were():
    default = make_plan("cpu-small")
    assert {r.beta2 for r in default.rungs} == {BETA2} == {0.95}
    assert all("beta2" not in r.to_dict() and "beta2" not in r.tags for r in default.rungs)
    plan = make_plan("cpu-small", beta2=0.99)
    assert {r.beta2 for r in plan.rungs} == {0.99}
    r = plan.rungs[0]
    assert r.name == "L3-d32-t5-beta0.99"  # beside the 0.95 run in one store
    assert plan.select(["L3-d32-t5"]) == [r]
    assert r.to_dict()["beta2"] == 0.99 and r.tags["beta2"] == 0.99
    assert r.tags["tokens_per_param"] == 5  # the preset's tags stay
    assert r.shape_key != default.rungs[0].shape_key  # never stacked with a 0.95 rung
    assert any("beta2 0.99" in n for n in plan.notes)
    # the same LRs, schedules and batches: only the optimizer differs
    assert [(a.lr, a.schedule, a.batch_size) for a in plan.rungs] == \
        [(b.lr, b.schedule, b.batch_size) for b in default.rungs]
    assert {r.beta2 for r in plan_budget(1e13, beta2=0.98).rungs} == {0.98}


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_beta2_outside_zero_one_is_refused(bad):
    with pytest.raises(UsageError, match="beta2 must lie between 0 and 1"):
        make_plan("cpu-tiny", beta2=bad)


def test_cli_plan_prints_beta2_and_refuses_a_bad_one(capsys):
    assert cli(["ladder", "plan", "--preset", "cpu-small", "--no-probe", "--json",
                "--beta2", "0.99"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert {r["beta2"] for r in plan["rungs"]} == {0.99}
    assert cli(["ladder", "plan", "--preset", "cpu-small", "--no-probe", "--beta2", "1"]) == 2
    err = capsys.readouterr().err
    assert "--beta2" in err and "between 0 and 1" in err


def test_optimizers_take_the_rungs_beta2():
    torch = pytest.importorskip("torch")
    from scalefit.ladder.engine import make_engine

    rung = make_plan("cpu-smoke", beta2=0.99).rungs[0]
    plain = make_engine([rung], "cpu")
    assert {g["betas"] for g in plain.opt.param_groups} == {(0.9, 0.99)}
    stacked = make_engine([rung, replace(rung, seed=1)], "cpu")
    assert stacked.opt.betas == (0.9, 0.99)
    # beta2 changes the steps: one rung trained a few steps at each beta2 ends elsewhere
    g = torch.Generator().manual_seed(0)
    xs = [torch.randint(0, 256, (rung.batch_size, rung.seq_len), generator=g) for _ in range(6)]
    weights = {}
    for b2 in (0.95, 0.99):
        eng = make_engine([replace(rung, beta2=b2)], "cpu")
        for x in xs:
            eng.train_step([x], [x.roll(-1, 1)], [rung.lr])
        weights[b2] = torch.cat([p.detach().flatten() for p in eng.raw.parameters()])
    step = (weights[0.95] - weights[0.99]).abs().max()
    assert float(step) > 0.1 * rung.lr  # a visible share of a step, not rounding



def test_a_sweep_at_beta2_trains_at_it_and_the_run_it_feeds_takes_it(tmp_path, stdlib_corpus):
    pytest.importorskip("torch")
    from scalefit.ladder.sweep import lr_sweep

    train, val = stdlib_corpus.train, stdlib_corpus.val
    kw = dict(widths=[16], lrs=[4e-3, 1.6e-2, 6.4e-2], n_layer=1, head_dim=8, seq_len=16,
              batch_size=2, steps=30, val_batches=2, val_batch_size=4)
    default, slow = lr_sweep(train, val, **kw), lr_sweep(train, val, beta2=0.99, **kw)
    assert default["beta2"] == 0.95 and slow["beta2"] == 0.99
    # the same runs but for the optimizer's second moment: every loss moves
    for a, b in zip(default["widths"][0]["losses"], slow["widths"][0]["losses"], strict=True):
        assert a != pytest.approx(b, rel=1e-6)
    out = tmp_path / "sweep.json"
    assert cli(["ladder", "sweep", "--out", str(out), "--widths", "16", "--lrs",
                "4e-3,1.6e-2,6.4e-2", "--steps", "8", "--batch", "2", "--seq-len", "16",
                "--head-dim", "8", "--layers", "1", "--threads", "1", "--beta2", "0.99"]) == 0
    assert json.loads(out.read_text())["beta2"] == 0.99


def test_lr_from_a_sweep_takes_its_beta2(tmp_path, capsys):
    sweep = {"format": 2, "best_lr": 0.01, "param": "mup", "base_width": 32, "steps": 400}
    p = tmp_path / "sweep.json"

    def plan(*extra):
        code = cli(["ladder", "plan", "--preset", "cpu-small", "--lr-from", str(p), "--no-probe",
                    "--json", *extra])
        out = capsys.readouterr()
        return code, json.loads(out.out) if code == 0 else out.err

    for b2, want in ((None, BETA2), (0.95, BETA2), (0.99, 0.99)):
        p.write_text(json.dumps(sweep if b2 is None else {**sweep, "beta2": b2}))
        code, got = plan()
        assert code == 0
        assert {r.get("beta2", BETA2) for r in got["rungs"]} == {want}
        assert all(r["name"].endswith("-beta0.99") == (want == 0.99) for r in got["rungs"])
    code, got = plan("--beta2", "0.99")  # repeating the sweep's beta2 is fine
    assert code == 0 and {r["beta2"] for r in got["rungs"]} == {0.99}
    code, err = plan("--beta2", "0.95")
    assert code == 2 and "contradicts the sweep's 0.99" in err
    p.write_text(json.dumps({**sweep, "beta2": 1.5}))
    code, err = plan()
    assert code == 2 and "beta2 must lie between 0 and 1" in err and "sweep.json" in err


def test_the_names_an_older_version_gave_each_rung():
    from scalefit.ladder.plan import legacy_names

    plan = make_plan("cpu-small", seeds=2, lr_mults=(0.5, 1.0), beta2=0.99)
    got = {r.name: legacy_names(r) for r in plan.rungs if r.name.startswith("L3-d32-t5-")}
    assert got == {
        "L3-d32-t5-lr0.5-beta0.99": ["L3-d32-t5-lr0.5-s0-beta0.99"],
        "L3-d32-t5-lr0.5-s1-beta0.99": [],
        "L3-d32-t5-beta0.99": ["L3-d32-t5-s0-beta0.99", "L3-d32-t5-lr1-beta0.99",
                               "L3-d32-t5-lr1-s0-beta0.99"],
        "L3-d32-t5-s1-beta0.99": ["L3-d32-t5-lr1-s1-beta0.99"],
    }
