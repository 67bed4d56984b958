"""The shape of a ladder GPT and its exact parameter and FLOP counts (no torch needed).

For ``L`` layers of width ``d``, vocabulary ``V`` and context ``T``:

- ``params_kaplan = 12·L·d²`` (attention 4·d², MLP 8·d² per layer: Kaplan et al. 2020);
- ``params_nonembedding`` = that plus the RMSNorm gains ``(2·L + 1)·d`` (exact count);
- ``params_total`` = non-embedding plus the embedding and the untied head, ``2·V·d``;
- ``params_matmul = 12·L·d² + V·d`` (every weight that multiplies activations);
- ``flops_per_token = 6·params_matmul + 12·L·d·T`` (training: forward and backward, attention
  scores and weighted sum counted in full as in the PaLM MFU convention).

``param`` picks the parametrisation: ``sp`` (standard: GPT-2 init, one LR for every weight,
attention scaled by 1/sqrt(head_dim)) or ``mup`` (μP, Yang et al. 2022, "Tensor Programs V",
Table 3), relative to a model of width ``base_width``: see :func:`mup_init_scale` and
:func:`mup_lr_mult`, and :attr:`GPTConfig.attn_scale`. At ``d_model == base_width`` a μP model
is the SP model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["BETA2", "PARAMS", "GPTConfig", "mup_init_scale", "mup_lr_mult", "param_role",
           "valid_beta2"]

PARAMS = ("sp", "mup")
BETA2 = 0.95  # AdamW's second-moment decay unless a rung sets its own


def valid_beta2(value) -> bool:
    """Whether ``value`` can be AdamW's beta2: a number strictly between 0 and 1."""
    return not isinstance(value, bool) and isinstance(value, int | float) and 0.0 < value < 1.0


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int
    d_model: int
    n_head: int
    seq_len: int = 256
    vocab_size: int = 256
    mlp_ratio: int = 4
    rope_base: float = 10000.0
    norm_eps: float = 1e-6
    init_std: float = 0.02
    param: str = "sp"  # "sp" or "mup"
    base_width: int = 0  # μP: the width whose init and LRs the others are scaled from
    # μP: the base model's head size; 0 = this model's (the ladders widen by adding heads)
    base_head_dim: int = 0

    def __post_init__(self):
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            raise ValueError(f"d_model={self.d_model} must split into {self.n_head} heads of even size")
        if self.param not in PARAMS:
            raise ValueError(f"param={self.param!r}: use one of {', '.join(PARAMS)}")
        if self.param == "mup" and not self.base_width > 0:
            raise ValueError("param='mup' needs a positive base_width (the width tuned on)")
        if self.base_head_dim < 0:
            raise ValueError(f"base_head_dim={self.base_head_dim} must be positive, or 0 for the "
                             "model's own head size")

    @property
    def width_mult(self) -> float:
        """``d_model / base_width`` under μP; 1 under SP."""
        return self.d_model / self.base_width if self.param == "mup" else 1.0

    @property
    def attn_scale(self) -> float | None:
        """The attention logits' scale, or None for SDPA's default 1/sqrt(head_dim) (SP).

        μP scales the logits by ``attn_mult / head_dim``, since q·k of aligned vectors grows
        like the head size when heads widen; ``attn_mult = sqrt(base_head_dim)`` makes the base
        model's scale SP's (Yang et al. 2022; μP code exposes the constant as an attention
        multiplier). Heads of a fixed size (``base_head_dim`` 0 or equal to ``head_dim``), as
        the ladders widen, keep SP's scale: their q·k does not grow with width, and
        ``1/head_dim`` only weakens every width's attention (measured in docs/ladder.md)."""
        base = self.base_head_dim or self.head_dim
        if self.param != "mup" or base == self.head_dim:
            return None
        return math.sqrt(base) / self.head_dim

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def params_kaplan(self) -> int:
        return (4 + 2 * self.mlp_ratio) * self.n_layer * self.d_model**2

    @property
    def params_nonembedding(self) -> int:
        return self.params_kaplan + (2 * self.n_layer + 1) * self.d_model

    @property
    def params_embedding(self) -> int:
        return 2 * self.vocab_size * self.d_model

    @property
    def params_total(self) -> int:
        return self.params_nonembedding + self.params_embedding

    @property
    def params_matmul(self) -> int:
        return self.params_kaplan + self.vocab_size * self.d_model

    @property
    def flops_per_token(self) -> int:
        return 6 * self.params_matmul + 12 * self.n_layer * self.d_model * self.seq_len

    def counts(self) -> dict[str, int]:
        return {
            "params_kaplan": self.params_kaplan,
            "params_nonembedding": self.params_nonembedding,
            "params_total": self.params_total,
            "params_matmul": self.params_matmul,
            "flops_per_token": self.flops_per_token,
        }

    def to_dict(self) -> dict:
        return asdict(self)


def param_role(name: str) -> str:
    """``hidden`` (width x width matrices), ``output`` (the readout), or ``vector`` (the input
    embedding and the RMSNorm gains: one dimension grows with width), from a parameter's name
    in :class:`GPT` (``blocks.0.qkv.weight``) or :class:`StackedGPT` (``qkv.0``)."""
    parts = set(name.split("."))
    if parts & {"qkv", "proj", "fc", "out"}:
        return "hidden"
    if "head" in parts:
        return "output"
    return "vector"


# μP, Yang et al. 2022 ("Tensor Programs V", arXiv:2203.03466), Table 3, with Adam:
#   input weights and biases: init var 1/fan_in (fan_in = vocabulary: fixed), Adam LR 1;
#   output weights: init var 1/fan_in^2, Adam LR 1/fan_in;
#   hidden weights: init var 1/fan_in, Adam LR 1/fan_in.
# Each relative to the base width, so the base model keeps its SP init and LR.
def mup_init_scale(cfg: GPTConfig, name: str) -> float:
    """Factor on a weight's SP init std: sqrt(base/width) for hidden matrices (var 1/fan_in),
    base/width for the readout (var 1/fan_in^2), 1 otherwise and under SP."""
    role, m = param_role(name), cfg.width_mult
    return {"hidden": m ** -0.5, "output": 1.0 / m}.get(role, 1.0)


def mup_lr_mult(cfg: GPTConfig, name: str) -> float:
    """Factor on the global Adam LR: base/width for hidden and output matrices (LR 1/fan_in),
    1 for the embedding and gains and under SP."""
    return 1.0 / cfg.width_mult if param_role(name) in ("hidden", "output") else 1.0
