"""The shape of a ladder GPT and its exact parameter and FLOP counts (no torch needed).

For ``L`` layers of width ``d``, vocabulary ``V`` and context ``T``:

- ``params_kaplan = 12·L·d²`` (attention 4·d², MLP 8·d² per layer: Kaplan et al. 2020);
- ``params_nonembedding`` = that plus the RMSNorm gains ``(2·L + 1)·d`` (exact count);
- ``params_total`` = non-embedding plus the embedding and the untied head, ``2·V·d``;
- ``params_matmul = 12·L·d² + V·d`` (every weight that multiplies activations);
- ``flops_per_token = 6·params_matmul + 12·L·d·T`` (training: forward and backward, attention
  scores and weighted sum counted in full as in the PaLM MFU convention).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["GPTConfig"]


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

    def __post_init__(self):
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            raise ValueError(f"d_model={self.d_model} must split into {self.n_head} heads of even size")

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
