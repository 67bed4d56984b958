"""The throughput benchmark's reference: nanoGPT (benchmarks/nanogpt, MIT) builds and trains at
the ladder's shapes; and the ladder GPT (exact GELU, RMSNorm, RoPE on q and k rows stored as
pairs, gains folded into the next weight) equals a model written out op by op from its weights."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from scalefit.ladder.config import GPTConfig  # noqa: E402
from scalefit.ladder.model import GPT, apply_rope, qk_pair_order, rope_tables  # noqa: E402
from scalefit.ladder.plan import make_plan  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from ladder_throughput import nanogpt_for  # noqa: E402


@pytest.mark.parametrize("preset", ["cpu-tiny", "cpu-small"])
def test_nanogpt_builds_and_steps_at_every_rung_shape(preset):
    torch.set_num_threads(1)
    seen = set()
    for r in make_plan(preset).rungs:
        if (r.n_layer, r.d_model) in seen:
            continue
        seen.add((r.n_layer, r.d_model))
        cfg = r.config
        ng, opt = nanogpt_for(r)
        ours = GPT(cfg)
        # the same matmul weights per block (12·L·d²), tied head, learned positions, no biases
        blocks = sum(p.numel() for n, p in ng.named_parameters() if n.endswith("_attn.weight")
                     or n.endswith("c_proj.weight") or n.endswith("c_fc.weight"))
        assert blocks == cfg.params_kaplan
        assert ng.get_num_params(non_embedding=False) == (
            cfg.params_kaplan + (2 * cfg.n_layer + 1) * cfg.d_model
            + (cfg.vocab_size + cfg.seq_len) * cfg.d_model)
        assert sum(p.numel() for p in ours.parameters()) == cfg.params_total
        assert not any(n.endswith("bias") for n, _ in ng.named_parameters())
        assert len(opt.param_groups) == 2 and opt.param_groups[0]["weight_decay"] == r.weight_decay
        if r.d_model == min(x.d_model for x in make_plan(preset).rungs):  # one step: cheap
            x, y = torch.randint(0, cfg.vocab_size, (2, 2, cfg.seq_len))
            _, loss = ng(x, y)
            assert float(loss.detach()) == pytest.approx(math.log(cfg.vocab_size), abs=0.1)
            loss.backward()
            opt.step()
            assert float(ng(x, y)[1].detach()) < float(loss.detach())


def _written_out(m: GPT, idx, targets, gelu="none", reorder=True):
    """The same model from its weights, op by op: RMSNorm as x / sqrt(mean(x²) + eps) · g, the
    qkv weight's rows put back in the usual order (per head, first half then second half of the
    head dimension) and RoPE on those halves, attention with an explicit causal mask."""
    cfg = m.cfg
    B, T = idx.shape
    H, hd, d, eps = cfg.n_head, cfg.head_dim, cfg.d_model, cfg.norm_eps
    cos, sin = rope_tables(cfg)
    usual = torch.argsort(qk_pair_order(cfg)) if reorder else torch.arange(3 * d)

    def norm(x, g):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    x = m.embed.weight[idx]
    mask = torch.ones(T, T).tril().bool()
    scale = cfg.attn_scale or 1 / math.sqrt(hd)
    for b in m.blocks:
        qkv = norm(x, b.norm1.weight) @ b.qkv.weight[usual].t()
        q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in qkv.split(d, dim=-1))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        att = (q @ k.transpose(-1, -2) * scale).masked_fill(~mask, float("-inf")).softmax(-1)
        x = x + (att @ v).transpose(1, 2).reshape(B, T, d) @ b.proj.weight.t()
        h = norm(x, b.norm2.weight) @ b.fc.weight.t()
        if gelu == "none":
            h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
        else:
            h = F.gelu(h, approximate=gelu)
        x = x + h @ b.out.weight.t()
    logits = norm(x, m.norm.weight) @ m.head.weight.t()
    logp = logits.log_softmax(-1)
    return -logp.gather(-1, targets.unsqueeze(-1)).mean()


@pytest.mark.parametrize("param", ["sp", "mup"])
def test_ladder_gpt_equals_the_written_out_model(param):
    torch.manual_seed(0)
    cfg = GPTConfig(2, 48, 3, seq_len=32, param=param, base_width=32 if param == "mup" else 0)
    m = GPT(cfg).double()
    with torch.no_grad():  # gains away from 1, so a misplaced gain shows
        for n, p in m.named_parameters():
            if "norm" in n:
                p.uniform_(0.5, 1.5)
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 256, (3, 32), generator=g)
    tgt = torch.randint(0, 256, (3, 32), generator=g)
    loss = m(idx, tgt)
    ref = _written_out(m, idx, tgt)
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), abs=1e-10)
    grads = torch.autograd.grad(loss, list(m.parameters()))
    refs = torch.autograd.grad(ref, list(m.parameters()))
    for (n, _), a, b in zip(m.named_parameters(), grads, refs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8, msg=lambda s, n=n: f"{n}: {s}")
    # the check can fail: with weights 20x their init (GELU inputs of order 1) tanh GELU, or
    # q and k rows read in their stored order, differ
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "norm" not in n:
                p.mul_(20)
    with torch.no_grad():
        loss = float(m(idx, tgt))
        assert loss == pytest.approx(float(_written_out(m, idx, tgt)), abs=1e-9)
        assert abs(float(_written_out(m, idx, tgt, gelu="tanh")) - loss) > 1e-5
        assert abs(float(_written_out(m, idx, tgt, reorder=False)) - loss) > 1e-5
