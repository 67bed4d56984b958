"""A small, readable GPT and its stacked twin.

``GPT``: pre-norm RMSNorm, rotary position embeddings (RoPE), ``scaled_dot_product_attention``,
a 4x GELU MLP, no biases, untied input embedding and output head.

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

from scalefit.ladder.config import GPTConfig

__all__ = ["GPT", "GPTConfig", "StackedGPT"]


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


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # computed in fp32 for stability under bf16 autocast
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * weight


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

    def forward(self, x, cos, sin):
        B, T, d = x.shape
        H, hd = self.cfg.n_head, self.cfg.head_dim
        q, k, v = self.qkv(self.norm1(x)).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, d))
        return x + self.out(F.gelu(self.fc(self.norm2(x)), approximate="tanh"))


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
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2L), unit norm gains."""
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                nn.init.ones_(p)
            elif name.endswith("proj.weight") or name.endswith("out.weight"):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.cfg.n_layer))
            else:
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, self.rope_cos, self.rope_sin)
        logits = self.head(self.norm(x))
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))

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
        rows = torch.arange(K, device=idx.device).view(K, 1)
        x = self.embed[rows, idx.view(K, B * T)]  # (K, B*T, d)
        for li in range(cfg.n_layer):
            qkv = torch.bmm(rms_norm(x, self.norm1[li], eps), self.qkv[li])
            q, k, v = qkv.view(K * B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
            q, k = apply_rope(q, self.rope_cos, self.rope_sin), apply_rope(k, self.rope_cos, self.rope_sin)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + torch.bmm(y.transpose(1, 2).reshape(K, B * T, d), self.proj[li])
            hmid = F.gelu(torch.bmm(rms_norm(x, self.norm2[li], eps), self.fc[li]), approximate="tanh")
            x = x + torch.bmm(hmid, self.out[li])
        logits = torch.bmm(rms_norm(x, self.norm, eps), self.head)  # (K, B*T, V)
        if targets is None:
            return logits.view(K, B, T, -1)
        losses = F.cross_entropy(logits.float().reshape(K * B * T, -1), targets.reshape(-1),
                                 reduction="none")
        return losses.view(K, B * T).mean(1)
