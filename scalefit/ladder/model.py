"""A small, readable GPT and its stacked twin.

``GPT``: pre-norm RMSNorm, rotary position embeddings (RoPE), ``scaled_dot_product_attention``,
a 4x GELU MLP (exact GELU, torch's default), no biases, untied input embedding and output head.
The fused ``qkv`` weight keeps its q and k rows as RoPE's pairs (see :func:`qk_pair_order`): a
fixed permutation of the head dimension, shared by q and k, which leaves every q·k unchanged
and makes RoPE one complex product on q and k together.

``StackedGPT``: ``K`` models of the same shape as one module. Every weight has a leading model
dimension and every matmul is a batched matmul, so ``K`` tiny models cost about as many kernel
launches as one. Model ``k`` computes exactly what a ``GPT`` with the same weights computes.

Counts (see :class:`GPTConfig`), per token, for ``L`` layers of width ``d``, vocabulary ``V`` and
context ``T``:

- ``params_kaplan = 12·L·d²`` (attention 4·d², MLP 8·d² per layer: Kaplan et al. 2020);
- ``params_nonembedding`` = that plus the RMSNorm gains ``(2·L + 1)·d`` (exact);
- ``params_total`` = non-embedding plus the embedding and the untied head, ``2·V·d``;
- ``params_matmul = 12·L·d² + V·d`` (every weight that multiplies activations);
- ``flops_per_token = 6·params_matmul + 12·L·d·T`` (forward and backward; the attention scores
  and weighted sum counted in full, as in the PaLM MFU convention).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scalefit.ladder.config import GPTConfig, mup_init_scale

__all__ = ["GPT", "GPTConfig", "StackedGPT", "qk_pair_order"]


def rope_tables(cfg: GPTConfig, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape (T, head_dim/2) for rotary embeddings."""
    half = cfg.head_dim // 2
    inv = cfg.rope_base ** (-torch.arange(half, dtype=torch.float64) / half)
    ang = torch.outer(torch.arange(cfg.seq_len, dtype=torch.float64), inv)
    return ang.cos().float().to(device), ang.sin().float().to(device)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of the last dimension; x is (..., T, head_dim)."""
    T = x.shape[-2]
    cos, sin = cos[:T].to(x.dtype), sin[:T].to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> torch.Tensor:
    """``x / sqrt(mean(x²) + eps) · weight`` over the last dimension, in fp32 (for stability under
    bf16 autocast; the residual stream is fp32 already, so no copy). ``weight`` None: no gain."""
    return F.rms_norm(_fp32_up(x), (x.shape[-1],), weight, eps).to(x.dtype)


def _fp32_up(x: torch.Tensor) -> torch.Tensor:
    """``x`` in fp32 if it is in a lower precision (bf16, fp16); fp32 and fp64 as they are."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


# ---------------------------------------------------------------------------- one model
class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        d, h = cfg.d_model, cfg.mlp_ratio * cfg.d_model
        self.cfg = cfg
        self.norm1 = RMSNorm(d, cfg.norm_eps)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.norm2 = RMSNorm(d, cfg.norm_eps)
        self.fc = nn.Linear(d, h, bias=False)
        self.out = nn.Linear(h, d, bias=False)

    def forward(self, x, rot):
        B, T, d = x.shape
        H, hd = self.cfg.n_head, self.cfg.head_dim
        # each RMSNorm gain multiplies the next weight, (3d, d), not the activations, (B, T, d);
        # q and k rows are stored as RoPE pairs, so RoPE is one complex product on both
        w_qkv = self.qkv.weight * self.norm1.weight
        qk, v = F.linear(rms_norm(x, None, self.cfg.norm_eps), w_qkv).split((2 * d, d), dim=-1)
        qk = _rotate_pairs(qk.view(B, T, 2 * H, hd // 2, 2), rot)
        q, k = qk.view(B, T, 2, H, hd).unbind(2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.view(B, T, H, hd).transpose(1, 2), is_causal=True,
                                           scale=self.cfg.attn_scale)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, d))
        h = F.linear(rms_norm(x, None, self.cfg.norm_eps), self.fc.weight * self.norm2.weight)
        return x + self.out(F.gelu(h))


class GPT(nn.Module):
    """One GPT. ``forward(idx, targets)`` returns the mean cross-entropy (nats per token)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        cos, sin = rope_tables(cfg)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self._cache: dict = {}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2L), unit norm gains;
        under μP each matrix's std is then scaled from the base width (see ``mup_init_scale``)."""
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            mup = mup_init_scale(self.cfg, name) if self.cfg.param == "mup" else 1.0
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                nn.init.ones_(p)
            elif name.endswith("proj.weight") or name.endswith("out.weight"):
                nn.init.normal_(p, 0.0, mup * std / math.sqrt(2 * self.cfg.n_layer))
            else:
                nn.init.normal_(p, 0.0, mup * std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        rot = self._rotation(idx.shape[1], idx.device)
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, rot)
        logits = F.linear(rms_norm(x, None, self.cfg.norm_eps), self.head.weight * self.norm.weight)
        if targets is None:
            return logits
        return F.cross_entropy(_fp32_up(logits).view(-1, logits.size(-1)), targets.reshape(-1))

    def _rotation(self, T: int, device) -> torch.Tensor:
        return _rotation(self, T, device)

    def count_parameters(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.parameters())
        emb = self.embed.weight.numel() + self.head.weight.numel()
        return {"params_total": total, "params_nonembedding": total - emb}


# ---------------------------------------------------------------------------- stacked models
class StackedGPT(nn.Module):
    """``K`` GPTs of one shape with a leading model dimension on every weight.

    Weights are stored as ``(K, in, out)`` so each linear layer is one ``torch.bmm``.
    ``forward(idx, targets)`` takes ``(K, B, T)`` token ids and returns the ``(K,)`` mean losses;
    call ``.sum().backward()`` on them: the models share no weights, so each gets its own gradient.
    """

    def __init__(self, cfg: GPTConfig, k: int):
        super().__init__()
        self.cfg, self.k = cfg, k
        L, d, V = cfg.n_layer, cfg.d_model, cfg.vocab_size
        h = cfg.mlp_ratio * d

        def w(*shape):
            return nn.Parameter(torch.zeros(k, *shape))

        self.embed = w(V, d)
        self.norm1 = nn.ParameterList(nn.Parameter(torch.ones(k, 1, d)) for _ in range(L))
        self.qkv = nn.ParameterList(w(d, 3 * d) for _ in range(L))
        self.proj = nn.ParameterList(w(d, d) for _ in range(L))
        self.norm2 = nn.ParameterList(nn.Parameter(torch.ones(k, 1, d)) for _ in range(L))
        self.fc = nn.ParameterList(w(d, h) for _ in range(L))
        self.out = nn.ParameterList(w(h, d) for _ in range(L))
        self.norm = nn.Parameter(torch.ones(k, 1, d))
        self.head = w(d, V)
        cos, sin = rope_tables(cfg)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self._cache: dict = {}

    @classmethod
    def from_seeds(cls, cfg: GPTConfig, seeds: list[int]) -> StackedGPT:
        """Stack the models ``GPT(cfg)`` would initialise under each seed (same init, bit for bit)."""
        stacked = cls(cfg, len(seeds))
        for i, s in enumerate(seeds):
            torch.manual_seed(s)
            stacked.load_model(i, GPT(cfg))
        return stacked

    @torch.no_grad()
    def load_model(self, i: int, model: GPT) -> None:
        self.embed[i].copy_(model.embed.weight)
        for li, b in enumerate(model.blocks):
            self.norm1[li][i, 0].copy_(b.norm1.weight)
            self.qkv[li][i].copy_(b.qkv.weight.t())
            self.proj[li][i].copy_(b.proj.weight.t())
            self.norm2[li][i, 0].copy_(b.norm2.weight)
            self.fc[li][i].copy_(b.fc.weight.t())
            self.out[li][i].copy_(b.out.weight.t())
        self.norm[i, 0].copy_(model.norm.weight)
        self.head[i].copy_(model.head.weight.t())

    @torch.no_grad()
    def extract(self, i: int) -> GPT:
        """Model ``i`` as a plain :class:`GPT` (for saving, sampling or checking)."""
        m = GPT(self.cfg).to(self.embed.device)
        m.embed.weight.copy_(self.embed[i])
        for li, b in enumerate(m.blocks):
            b.norm1.weight.copy_(self.norm1[li][i, 0])
            b.qkv.weight.copy_(self.qkv[li][i].t())
            b.proj.weight.copy_(self.proj[li][i].t())
            b.norm2.weight.copy_(self.norm2[li][i, 0])
            b.fc.weight.copy_(self.fc[li][i].t())
            b.out.weight.copy_(self.out[li][i].t())
        m.norm.weight.copy_(self.norm[i, 0])
        m.head.weight.copy_(self.head[i].t())
        return m

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        cfg = self.cfg
        K, B, T = idx.shape
        H, hd, d, eps = cfg.n_head, cfg.head_dim, cfg.d_model, cfg.norm_eps
        N = B * T
        rot = self._rotation(T, idx.device)
        rows = torch.arange(K, device=idx.device).view(K, 1)
        x = self.embed[rows, idx.reshape(K, N)]  # (K, N, d); any strides (weights may share a buffer)
        for li in range(cfg.n_layer):
            # the RMSNorm gain folded into the weight: a (K, d, 3d) product, not a (K, N, d) one;
            # q and k columns are RoPE pairs, as GPT's rows
            w_qkv = self.norm1[li].transpose(1, 2) * self.qkv[li]
            qkv = torch.bmm(rms_norm(x, None, eps), w_qkv)
            qk, v = qkv.split((2 * d, d), dim=-1)
            qk = _rotate_pairs(qk.view(K * B, T, 2 * H, hd // 2, 2), rot)
            q, k = qk.view(K * B, T, 2, H, hd).unbind(2)
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                               v.view(K * B, T, H, hd).transpose(1, 2), is_causal=True,
                                               scale=cfg.attn_scale)
            # SDPA's output is (K·B, T, H, hd) in memory: this reshape is a view
            x = torch.baddbmm(x, y.transpose(1, 2).reshape(K, N, d), self.proj[li])
            w_fc = self.norm2[li].transpose(1, 2) * self.fc[li]
            hmid = F.gelu(torch.bmm(rms_norm(x, None, eps), w_fc))
            x = torch.baddbmm(x, hmid, self.out[li])
        logits = torch.bmm(rms_norm(x, None, eps), self.norm.transpose(1, 2) * self.head)  # (K, N, V)
        if targets is None:
            return logits.view(K, B, T, -1)
        return _StackedCrossEntropy.apply(logits, targets.reshape(K, N))

    def _rotation(self, T: int, device) -> torch.Tensor:
        return _rotation(self, T, device)


def _rotation(model: GPT | StackedGPT, T: int, device) -> torch.Tensor:
    """RoPE as unit complex numbers, (T, 2·H, head_dim/2), the same angles for q and k heads,
    cached per length and device; under torch.compile as (T, 1, head_dim/2, 2) real (cos, sin)
    pairs (broadcast)."""
    cos, sin = model.rope_cos[:T], model.rope_sin[:T]
    if torch.compiler.is_compiling():  # traced once into the graph: no cache needed
        return torch.stack((cos, sin), -1).unsqueeze(1)
    key = ("rot", T, device)
    if key not in model._cache:
        rot = torch.complex(cos, sin).unsqueeze(1).expand(T, 2 * model.cfg.n_head, -1)
        model._cache[key] = rot.contiguous()
    return model._cache[key]


def qk_pair_order(cfg: GPTConfig) -> torch.Tensor:
    """The stored order of the fused qkv weight's rows, as indices into the usual order (per head,
    the first half of the head dimension, then the second): per q and k head the two halves
    interleaved into RoPE's pairs (i, i + head_dim/2); v unchanged. ``W_usual[order]`` is the
    stored weight."""
    d, hd = cfg.d_model, cfg.head_dim
    half = hd // 2
    pair = torch.stack((torch.arange(half), torch.arange(half) + half), dim=1).reshape(-1)
    heads = (torch.arange(2 * d // hd).view(-1, 1) * hd + pair).reshape(-1)
    return torch.cat((heads, torch.arange(2 * d, 3 * d)))


def _rotate_pairs(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """RoPE on (..., T, heads, head_dim/2, 2) pairs. Eager: one complex product with ``rot``
    (complex, (T, heads, head_dim/2)). Under torch.compile, which generates no code for complex
    numbers, ``rot`` is the same table as real (cos, sin) pairs and the rotation is spelled out."""
    if not torch.compiler.is_compiling():
        return torch.view_as_real(torch.view_as_complex(x) * rot)
    a, b = x.unbind(-1)
    c, s = rot.unbind(-1)
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1)


class _StackedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy per model of (K, N, V) logits, with the gradient written in one pass
    (softmax minus one-hot) instead of log-softmax and NLL backward with a zero-filled buffer."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        t = targets.unsqueeze(-1)
        ctx.save_for_backward(logits, t)
        logp = torch.log_softmax(logits.float(), dim=-1)
        return -logp.gather(-1, t).squeeze(-1).mean(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logits, t = ctx.saved_tensors
        g = torch.softmax(logits.float(), dim=-1)  # one fused pass, faster than exp(log p)
        g.scatter_add_(-1, t, torch.full(t.shape, -1.0, dtype=g.dtype, device=g.device))
        g.mul_((grad.float() / logits.shape[1]).view(-1, 1, 1))
        return g.to(logits.dtype), None
