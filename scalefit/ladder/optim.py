"""The ladder's optimizers: torch's fused AdamW for one model, :class:`StackedAdamW` for ``K``.

Both decay every weight except the RMSNorm gains, with betas (0.9, 0.95) (a rung may set
its own beta2) and eps 1e-8. Under
μP (``lr_mult``: a parameter name -> factor on the LR, see
:func:`scalefit.ladder.config.mup_lr_mult`) each weight steps at its own multiple of the LR;
weight decay, decoupled as in torch, follows that weight's LR as the ``mup`` package's MuAdam
does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from scalefit.ladder.config import BETA2

__all__ = ["BETAS", "StackedAdamW", "adamw"]

BETAS = (0.9, BETA2)


def adamw(model: nn.Module, lr: float, weight_decay: float,
          lr_mult: Callable[[str], float] | None = None,
          betas: tuple[float, float] = BETAS) -> torch.optim.AdamW:
    """torch's AdamW over ``model``, the RMSNorm gains in a group without weight decay.

    With ``lr_mult`` the parameters are grouped by their LR factor, kept in each group's
    ``lr_mult``: set a group's LR to ``lr * group["lr_mult"]``."""
    by: dict[tuple[bool, float], list] = {}
    for n, p in model.named_parameters():
        key = ("norm" not in n, lr_mult(n) if lr_mult else 1.0)
        by.setdefault(key, []).append(p)
    groups = [{"params": ps, "weight_decay": weight_decay if decay else 0.0, "lr_mult": m}
              for (decay, m), ps in sorted(by.items(), key=lambda kv: (not kv[0][0], kv[0][1]))]
    # one fused kernel for the whole update (CUDA and CPU alike)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-8, fused=True)


class StackedAdamW:
    """AdamW over stacked weights with one LR per model (torch.optim.AdamW's update, per slice),
    and per-model gradient clipping.

    The weights and both moments live in ``(K, P)`` buffers (every parameter a view of its
    columns, decayed ones first) and the gradients are gathered into one such buffer, so a step
    and the per-model clipping norms are a handful of ops, not a dozen per weight.
    """

    def __init__(self, named_params, k: int, weight_decay: float, betas=BETAS, eps: float = 1e-8,
                 lr_mult: Callable[[str], float] | None = None):
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
        # (1, P) LR factor of every column; None (SP) keeps the update one scalar per model
        self.col_mult = None
        if lr_mult is not None:
            mults = [lr_mult(named_params[i][0]) for i in self.order]
            if any(m != 1.0 for m in mults):
                self.col_mult = torch.cat([torch.full((n,), m, dtype=p0.dtype) for m, n in
                                           zip(mults, sizes, strict=True)]).to(p0.device).view(1, -1)

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
        if self.col_mult is not None:
            lr_b = lr_b * self.col_mult  # (K, P): each weight's own LR
        if self.wd and self.n_decay:
            p[:, :self.n_decay].mul_(1 - lr_b[:, :self.n_decay] * self.wd)
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
