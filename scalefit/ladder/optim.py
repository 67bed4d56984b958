"""The ladder's optimizers: torch's fused AdamW for one model, :class:`StackedAdamW` for ``K``.

Both decay every weight except the RMSNorm gains, with betas (0.9, 0.95) and eps 1e-8.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["BETAS", "StackedAdamW", "adamw"]

BETAS = (0.9, 0.95)


def adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """torch's AdamW over ``model``, the RMSNorm gains in a group without weight decay."""
    decay = [p for n, p in model.named_parameters() if "norm" not in n]
    keep = [p for n, p in model.named_parameters() if "norm" in n]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": keep, "weight_decay": 0.0}]
    # one fused kernel for the whole update (CUDA and CPU alike)
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS, eps=1e-8, fused=True)


class StackedAdamW:
    """AdamW over stacked weights with one LR per model (torch.optim.AdamW's update, per slice),
    and per-model gradient clipping.

    The weights and both moments live in ``(K, P)`` buffers (every parameter a view of its
    columns, decayed ones first) and the gradients are gathered into one such buffer, so a step
    and the per-model clipping norms are a handful of ops, not a dozen per weight.
    """

    def __init__(self, named_params, k: int, weight_decay: float, betas=BETAS, eps: float = 1e-8):
        self.params = [p for _, p in named_params]
        decays = ["norm" not in n for n, _ in named_params]
        self.k, self.betas, self.eps, self.wd = k, betas, eps, weight_decay
        self.t = 0
        self.order = sorted(range(len(self.params)), key=lambda i: not decays[i])  # decayed first
        sizes = [self.params[i][0].numel() for i in self.order]
        p0 = self.params[0]
        self.flat = torch.empty(k, sum(sizes), dtype=p0.dtype, device=p0.device)
        self.flat_m = torch.zeros_like(self.flat)
        self.flat_v = torch.zeros_like(self.flat)
        self.exp_avg: list = [None] * len(self.params)
        self.exp_avg_sq: list = [None] * len(self.params)
        self.n_decay, off = 0, 0
        with torch.no_grad():
            for i, n in zip(self.order, sizes, strict=True):
                p = self.params[i]
                cols = slice(off, off + n)
                self.flat[:, cols].copy_(p.detach().reshape(k, n))
                p.data = self.flat[:, cols].view(p.shape)
                self.exp_avg[i] = self.flat_m[:, cols].view(p.shape)
                self.exp_avg_sq[i] = self.flat_v[:, cols].view(p.shape)
                off += n
                if decays[i]:
                    self.n_decay = off

    @torch.no_grad()
    def step(self, lr: torch.Tensor, max_norm: float | None = None) -> None:
        """One update; with ``max_norm``, each model's gradient is first scaled to that norm."""
        g = torch.cat([self.params[i].grad.reshape(self.k, -1) for i in self.order], dim=1)
        if max_norm:
            coef = (max_norm / (g.pow(2).sum(1, keepdim=True).sqrt_() + 1e-6)).clamp_(max=1.0)
            g.mul_(coef)
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        p, m, v = self.flat, self.flat_m, self.flat_v
        lr_b = lr.view(self.k, 1).to(p.dtype)
        if self.wd and self.n_decay:
            p[:, :self.n_decay].mul_(1 - lr_b * self.wd)
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
        p.addcdiv_(m * (lr_b / bc1), denom, value=-1.0)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        return {"t": self.t, "exp_avg": list(self.exp_avg), "exp_avg_sq": list(self.exp_avg_sq)}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        for dst, src in zip(self.exp_avg + self.exp_avg_sq, state["exp_avg"] + state["exp_avg_sq"],
                            strict=True):
            dst.copy_(src)
