"""μP in the ladder: the coordinate check, the stacked engine, the LR sweep and its transfer."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalefit.cli import run as cli  # noqa: E402
from scalefit.errors import InputError, UsageError  # noqa: E402
from scalefit.ladder.config import GPTConfig, mup_lr_mult, param_role  # noqa: E402
from scalefit.ladder.engine import make_engine  # noqa: E402
from scalefit.ladder.model import GPT  # noqa: E402
from scalefit.ladder.plan import Rung, make_plan  # noqa: E402
from scalefit.ladder.sweep import best_lr, lr_sweep, read_sweep  # noqa: E402


@pytest.fixture(scope="module")
def tokens(stdlib_tokens):
    return stdlib_tokens


def _rung(d, param, lr, steps, seed=0, n_head=2, seq_len=32, batch=8, base=32):
    return Rung(name=f"d{d}-s{seed}", n_layer=2, d_model=d, n_head=n_head, seq_len=seq_len,
                batch_size=batch, steps=steps, lr=lr, warmup=0,
                schedule=f"constant:peak={lr},steps={steps}", eval_every=steps, seed=seed,
                param=param, base_width=base if param == "mup" else 0)


def _batch(tok, rng, batch, seq_len):
    off = rng.integers(0, len(tok) - seq_len - 1, batch)
    w = np.stack([tok[o:o + seq_len + 1] for o in off]).astype(np.int64)
    return torch.from_numpy(w[:, :-1]), torch.from_numpy(w[:, 1:])


@torch.no_grad()
def _coords(m: GPT, x) -> dict[str, float]:
    """Mean |x| of the residual stream after each block, and of the logits."""
    h = m.embed(x)
    out = {}
    rot = m._rotation(x.shape[1], x.device)
    for i, b in enumerate(m.blocks):
        h = b(h, rot)
        out[f"block{i}"] = float(h.abs().mean())
    out["logits"] = float(m.head(m.norm(h)).abs().mean())
    return out


def _coord_check(tokens, param, widths=(32, 64, 128), steps=10, lr=1e-2, seeds=(0, 1)):
    train, val = tokens
    xv, _ = _batch(val, np.random.default_rng(123), 16, 32)
    table = {}
    for d in widths:
        rows = []
        for s in seeds:
            torch.manual_seed(s)
            eng = make_engine([_rung(d, param, lr, steps, seed=s, n_head=d // 16)])
            rng = np.random.default_rng(s)
            for _ in range(steps):
                x, y = _batch(train, rng, 8, 32)
                eng.train_step([x], [y], [lr])
            rows.append(_coords(eng.raw, xv))
        table[d] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    return table


def _ratio(table, key):
    v = [row[key] for row in table.values()]
    return max(v) / min(v)


def test_coordinate_check_flat_under_mup_growing_under_sp(tokens):
    """Yang et al. 2022's coord check: 10 Adam steps at LR 1e-2, widths 32-128 at the ladders'
    fixed head size (16: 2, 4, 8 heads), two seeds. Measured (mean |x|, d = 32 / 64 / 128):
    SP   residual after block 0: 1.15 / 5.34 / 18.7, block 1: 2.11 / 11.5 / 32.3,
         logits 1.95 / 3.62 / 4.23;
    μP   residual after block 0: 1.15 / 1.36 / 1.11, block 1: 2.11 / 2.97 / 2.31,
         logits 1.95 / 2.16 / 2.12.
    So μP's max/min stays at 1.41 or less (1.11 for the logits: two seeds' noise, hence the
    bounds 1.8 and 1.3) where SP's residual stream grows 15-16x and its logits 2.2x over a 4x
    range of widths. (With two heads whose size grew with width and μP's attention at
    1/head_dim, μP's numbers were these to within 0.01, and SP's residual stream grew 17x.)"""
    torch.set_num_threads(1)
    mup = _coord_check(tokens, "mup")
    sp = _coord_check(tokens, "sp")
    for key in ("block0", "block1"):
        assert _ratio(mup, key) < 1.8, (key, mup)
        assert _ratio(sp, key) > 5, (key, sp)
        assert sp[128][key] > sp[64][key] > sp[32][key]
    assert _ratio(mup, "logits") < 1.3, mup
    assert sp[128]["logits"] > sp[64]["logits"] > sp[32]["logits"]
    assert sp[128]["logits"] / sp[32]["logits"] > 1.5, sp


def test_base_width_model_is_sp():
    sp = GPTConfig(2, 32, 2, seq_len=16)
    mu = GPTConfig(2, 32, 2, seq_len=16, param="mup", base_width=32)
    torch.manual_seed(0)
    a = GPT(sp)
    torch.manual_seed(0)
    b = GPT(mu)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(p, q), n
    assert sp.attn_scale is None and mu.attn_scale is None
    x = torch.randint(0, 256, (2, 16))
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    wide = GPTConfig(2, 128, 2, seq_len=16, param="mup", base_width=32)
    torch.manual_seed(0)
    c = GPT(wide)
    # hidden init std x sqrt(32/128), readout x 32/128 (Tensor Programs V, Table 3)
    assert float(c.blocks[0].qkv.weight.detach().std()) == pytest.approx(0.02 * 0.5, rel=0.05)
    assert float(c.head.weight.detach().std()) == pytest.approx(0.02 * 0.25, rel=0.05)
    assert float(c.embed.weight.detach().std()) == pytest.approx(0.02, rel=0.05)
    roles = {n: param_role(n) for n, _ in c.named_parameters()}
    assert roles["blocks.1.out.weight"] == "hidden" and roles["head.weight"] == "output"
    assert roles["embed.weight"] == roles["norm.weight"] == "vector"
    assert mup_lr_mult(wide, "blocks.0.fc.weight") == 0.25
    assert mup_lr_mult(wide, "embed.weight") == mup_lr_mult(wide, "norm.weight") == 1.0
    with pytest.raises(ValueError, match="base_width"):
        GPTConfig(2, 32, 2, param="mup")
    with pytest.raises(ValueError, match="param"):
        GPTConfig(2, 32, 2, param="ntk")


def test_mup_attention_scale_falls_as_one_over_head_size_from_the_base():
    # heads that widen from a base head size of 16: sqrt(16) / head_dim, SP's at the base
    grown = GPTConfig(2, 128, 2, seq_len=16, param="mup", base_width=32, base_head_dim=16)
    assert grown.attn_scale == pytest.approx(4 / 64)
    # heads of a fixed size, added as the ladders widen: SP's scale (SDPA's default)
    assert GPTConfig(2, 128, 8, seq_len=16, param="mup", base_width=32).attn_scale is None
    assert GPTConfig(2, 128, 8, seq_len=16, param="mup", base_width=32,
                     base_head_dim=16).attn_scale is None
    with pytest.raises(ValueError, match="base_head_dim"):
        GPTConfig(2, 32, 2, param="mup", base_width=32, base_head_dim=-4)


def test_stacked_mup_training_matches_plain_training():
    """The stacked engine's per-column LRs equal torch's AdamW with one group per LR factor.
    (At LR 3e-2 a few embedding rows of rare tokens, whose Adam steps divide tiny moments,
    differ by 1e-2 after 5 steps under SP and μP alike: the two AdamWs round differently.)"""
    rungs = [_rung(64, "mup", 1e-2, 10, seed=0, seq_len=16, batch=4),
             _rung(64, "mup", 3e-3, 10, seed=1, seq_len=16, batch=4)]
    stacked = make_engine(rungs)
    plains = [make_engine([r]) for r in rungs]
    assert {g["lr_mult"] for g in plains[0].opt.param_groups} == {1.0, 0.5}
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        xs = [torch.randint(0, 256, (4, 16), generator=g) for _ in rungs]
        ys = [torch.randint(0, 256, (4, 16), generator=g) for _ in rungs]
        ls = stacked.train_step(xs, ys, [r.lr for r in rungs])
        for i, (p, r) in enumerate(zip(plains, rungs, strict=True)):
            lp = p.train_step([xs[i]], [ys[i]], [r.lr])
            assert float(ls[i]) == pytest.approx(float(lp[0]), abs=1e-5)
    for i, p in enumerate(plains):
        got = stacked.raw.extract(i).state_dict()
        for k, v in p.raw.state_dict().items():
            # 99% of the weights agree to 2e-5; the rest are coordinates whose gradient nearly
            # cancels (q and k rows at init, rare tokens' rows), where Adam's g/(|g| + eps)
            # turns last-bit differences into up to a step's size (0.35% of a qkv weight over
            # 1e-4 seen): bounded by 5 steps of the LR
            diff = (got[k] - v).abs()
            assert float((diff > 2e-5 + 1e-4 * v.abs()).float().mean()) < 1e-2, k
            assert float(diff.max()) < 5 * 1e-2, k


def test_plan_param_and_transferred_lr():
    sp = make_plan("cpu-tiny", param="sp")
    assert {r.param for r in sp.rungs} == {"sp"}
    assert "param" not in sp.rungs[0].to_dict()  # SP rungs keep their stored hashes
    assert {r.base_width for r in make_plan("cpu-tiny").rungs} == {20}  # the preset's μP
    # no LR was swept at base width 32: every width takes the rule's LR at the base width
    mu = make_plan("cpu-tiny", param="mup", base_width=32)
    assert {r.base_width for r in mu.rungs} == {32}
    assert len({r.lr for r in mu.rungs}) == 1
    mu = make_plan("cpu-tiny", param="mup", base_width=32, lr=4e-3, lr_mults=(0.5, 1.0))
    assert {r.lr for r in mu.rungs} == {2e-3, 4e-3}
    assert mu.rungs[0].to_dict()["base_width"] == 32
    assert len(mu.groups("always")) == len(sp.rungs)  # an LR pair per shape trains stacked
    with pytest.raises(UsageError, match="parametrisation"):
        make_plan("cpu-tiny", param="ntk")
    with pytest.raises(UsageError, match="base width"):
        make_plan("cpu-tiny", param="mup", base_width=0)


def test_best_lr_refines_the_grid_minimum():
    lrs = [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2]
    x = np.log(lrs)
    losses = 3 + (x - np.log(5e-3)) ** 2
    got, i = best_lr(lrs, losses)
    assert i == 2 and got == pytest.approx(5e-3, rel=1e-6)
    got, i = best_lr(lrs, [3, 2.8, 2.7, 2.8, float("nan")])  # diverged: worst, and left out
    assert i == 2 and got == pytest.approx(4e-3, rel=0.05)
    lopsided = [2.76, 2.70, 2.80, 2.83, 2.87]  # a wide fit's vertex stays within half a step
    assert best_lr(lrs, lopsided) == (pytest.approx(2e-3 / 2**0.5), 1)  # the fit alone: 1.1e-3
    noisy = losses + np.array([0, 0, 0.02, 0, 0])  # one wobbly point moves the fit a little
    assert best_lr(lrs, noisy)[0] == pytest.approx(5e-3, rel=0.25)
    assert best_lr(lrs, [2, 3, 4, 5, 6]) == (1e-3, 0)  # at the edge: no refinement
    with pytest.raises(UsageError, match="diverged"):
        best_lr(lrs, [float("nan")] * 5)


def test_read_sweep_rejects_bad_files(tmp_path):
    p = tmp_path / "s.json"
    for text, where in [("[1]", "JSON object"), ('{"best_lr": -1, "param": "sp"}', "best_lr"),
                        ('{"best_lr": 1e-3, "param": "x"}', "param"),
                        ('{"best_lr": 1e-3, "param": "mup", "base_width": "32"}', "base_width"),
                        ("{", "not JSON")]:
        p.write_text(text)
        with pytest.raises(InputError, match=where):
            read_sweep(p)
    # a μP sweep from before μP kept SP's attention scale tuned another model's LR
    p.write_text('{"best_lr": 1e-3, "param": "mup", "base_width": 32}')
    with pytest.raises(InputError, match="format 1") as e:
        read_sweep(p)
    assert "sweep` again" in e.value.hint
    p.write_text('{"format": 1, "best_lr": 1e-3, "param": "sp"}')
    assert read_sweep(p)["param"] == "sp"
    p.write_text('{"format": 2, "best_lr": 1e-3, "param": "mup", "base_width": 32}')
    assert read_sweep(p)["base_width"] == 32


def test_sweep_cli_writes_json_and_figure_that_run_reads(tmp_path, stdlib_corpus):
    """A seconds-long sweep through the CLI, then `plan --lr-from` picks up its LR and μP."""
    out = tmp_path / "sweep.json"
    code = cli(["ladder", "sweep", "--out", str(out), "--widths", "16,32", "--lrs",
                "2e-3,8e-3,3.2e-2", "--param", "mup", "--steps", "8", "--batch", "2",
                "--seq-len", "16", "--head-dim", "8", "--threads", "1"])
    assert code == 0
    sw = json.loads(out.read_text())
    assert sw["param"] == "mup" and sw["base_width"] == 16
    assert [w["d_model"] for w in sw["widths"]] == [16, 32]
    assert all(len(w["losses"]) == 3 for w in sw["widths"])
    assert 2e-3 <= sw["best_lr"] <= 3.2e-2
    assert out.with_suffix(".png").stat().st_size > 10_000
    code = cli(["ladder", "plan", "--preset", "cpu-tiny", "--lr-from", str(out), "--no-probe",
                "--json"])
    assert code == 0
    assert cli(["ladder", "plan", "--preset", "cpu-tiny", "--lr-from", str(out), "--param", "sp",
                "--no-probe"]) != 0


def _transfer(tokens, param):
    train, val = tokens
    return lr_sweep(train, val, widths=[16, 32, 64], lrs=[2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2, 6.4e-2],
                    param=param, n_layer=2, head_dim=8, seq_len=32, batch_size=8, steps=200,
                    schedule="constant", seeds=2, val_batches=8, val_batch_size=16)


@pytest.mark.slow
def test_best_lr_transfers_across_widths_under_mup_not_sp(tokens):
    """Best LR (five-point parabola around the minimum of the final validation loss) at widths
    16, 32, 64: 2 layers, head size 8, batch 8 x 32, 200 steps at a constant LR after 20 of
    warmup, two seeds, LRs 2e-3 to 6.4e-2. Measured: μP 0.0099 / 0.0098 / 0.0092 (1.08x),
    SP 0.0099 / 0.0040 / 0.0020 (4.9x; the widest at the grid's lower end, so at least that).
    (With μP's attention at 1/head_dim, before it kept SP's scale at a fixed head size: μP
    0.0109 / 0.0112 / 0.0095, 1.17x. Under a cosine decay to 10% the anneal flattened the
    high-LR side of the curve at this length: μP 0.0226 / 0.0113 / 0.0113, SP 0.0226 / 0.0113 /
    0.0020.)"""
    torch.set_num_threads(1)
    mu = [w["best_lr"] for w in _transfer(tokens, "mup")["widths"]]
    sp = [w["best_lr"] for w in _transfer(tokens, "sp")["widths"]]
    drift_mu, drift_sp = max(mu) / min(mu), max(sp) / min(sp)
    assert drift_mu < 2, (mu, sp)
    assert drift_sp > 2 * drift_mu, (mu, sp)
    assert sp[0] > sp[1] > sp[2]  # under SP the best LR falls with width
