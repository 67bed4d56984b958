"""What a reader learns about one run: sizes from its name and config, with their sources."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scalefit.io.columns import norm
from scalefit.io.numbers import UNITS, as_number

_SEP = r"(?:^|(?<=[-_/ .:=]))"
_END = r"(?=$|[-_/ .:,])"
# model sizes in names are M or B ("190M", "1.3b"); k and T usually mean steps and tokens
SIZE_RE = re.compile(_SEP + r"(\d+(?:\.\d+)?)([mMbB])" + _END)
MULT_RE = re.compile(_SEP + r"(\d+(?:\.\d+)?)x[cC]" + _END)
LAYER_RE = re.compile(r"(?:n_?layers?|num_?layers|depth)[=_-]?(\d+)", re.I)
WIDTH_RE = re.compile(r"(?:n_?embd|d_?model|hidden(?:_?size)?|width)[=_-]?(\d+)", re.I)

#: config keys (normalised) -> runs field; the first found wins
CONFIG_KEYS: dict[str, list[str]] = {
    "params": ["non_embedding_params", "n_params", "num_params", "params", "model_params",
               "num_parameters", "n_parameters"],
    "params_total": ["params_total", "total_params", "n_params_total"],
    "tokens_total": ["tokens_total", "train_tokens", "max_tokens", "total_tokens", "num_tokens"],
    "flops_total": ["flops_total", "total_flops", "total_flos"],
    "batch_size": ["global_batch_size", "batch_size", "train_batch_size", "total_batch_size"],
    "seq_len": ["seq_len", "sequence_length", "max_seq_len", "block_size", "seq_length",
                "max_sequence_length", "context_length"],
    "lr_max": ["lr_max", "peak_lr", "max_lr", "learning_rate", "lr", "learning_rate_peak"],
}
LAYER_KEYS = ["n_layer", "n_layers", "num_layers", "num_hidden_layers", "nlayers", "layers", "depth",
              "num_decoder_layers", "n_decoder_layers", "decoder_layers"]
WIDTH_KEYS = ["n_embd", "d_model", "hidden_size", "dim", "model_dim", "emb_dim", "width", "n_embed"]
#: the MLP's hidden width (4d when absent, as in GPT-2)
FFN_KEYS = ["intermediate_size", "ffn_hidden_size", "ffn_dim", "d_ff", "ff_hidden",
            "ff_hidden_size", "mlp_hidden_size", "mlp_dim", "n_inner", "ff_dim"]
FFN_RATIO_KEYS = ["mlp_ratio", "ffn_ratio", "ff_mult"]
HEAD_KEYS = ["num_attention_heads", "n_head", "n_heads", "num_heads"]
KV_HEAD_KEYS = ["num_key_value_heads", "n_kv_heads", "num_kv_heads", "n_kv_head"]
ACT_KEYS = ["hidden_act", "activation", "activation_type", "act_fn", "mlp_activation"]
#: activations whose MLP has a gate (three d x f matrices instead of two)
GATED = ("silu", "swiglu", "swish", "geglu", "reglu", "gated")
STEPS_KEYS = ["max_steps", "max_iters", "total_steps", "train_steps", "num_train_steps", "max_iter"]

def flatten_config(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to ``a.b.c`` keys; W&B's ``{"key": {"value": v, "desc": ...}}`` unwrapped."""
    out: dict[str, Any] = {}
    if not isinstance(cfg, Mapping):
        return out
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and "value" in v and set(v) <= {"value", "desc"}:
            v = v["value"]
        if isinstance(v, Mapping):
            out.update(flatten_config(v, key + "."))
        else:
            out[key] = v
    return out


def _block_params(cfg: Mapping[str, Any], L: float, d: float) -> tuple[float, str]:
    """Non-embedding parameters of ``L`` transformer blocks of width ``d`` from a config's
    normalised keys, and the formula used: attention 4d² (2d² + 2d·d_kv with fewer key-value
    heads), MLP 2·d·f, or 3·d·f with a gated activation (SwiGLU); f = 4d when the config does
    not say. Without any of those keys this is Kaplan et al.'s 12·L·d²."""
    def first(keys):
        return next((as_number(cfg[k]) for k in keys if k in cfg and as_number(cfg[k])), None)

    f = first(FFN_KEYS)
    if f is None and first(FFN_RATIO_KEYS):
        f = first(FFN_RATIO_KEYS) * d
    act = next((str(cfg[k]).lower() for k in ACT_KEYS if isinstance(cfg.get(k), str)), "")
    gated = any(g in act for g in GATED)
    heads, kv = first(HEAD_KEYS), first(KV_HEAD_KEYS)
    if f is None and not gated and not (heads and kv and kv != heads):
        return 12 * L * d * d, "12*L*d^2"
    f = 4 * d if f is None else f
    d_kv = d * kv / heads if heads and kv else d
    attn = 2 * d * d + 2 * d * d_kv
    mlp = (3 if gated else 2) * d * f
    attn_s = "4d^2" if d_kv == d else f"2d^2+2d*{d_kv:g}"
    return L * (attn + mlp), f"L*({attn_s}+{3 if gated else 2}*d*f) (f={f:g})"


@dataclass
class RunInfo:
    """What a reader learnt about one run, with the source of each value."""

    name: str
    values: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    source_hash: str | None = None
    params_convention: str | None = None

    def set(self, key: str, value: Any, source: str, *, overwrite: bool | str = True) -> None:
        """Record a value and its source; ``overwrite="weak"`` replaces only guesses from the
        run name and derived values."""
        v = as_number(value)
        if v is None or v <= 0:
            return
        if key in self.values:
            if overwrite is False:
                return
            if overwrite == "weak" and not self.sources.get(key, "").startswith(
                    ("run name", "derived")):
                return
        self.values[key] = v
        self.sources[key] = source

    def from_name(self, text: str | None = None) -> None:
        """Sizes in a run name: ``190M-5xC`` (params, tokens = mult x 20 x N), ``nlayers12_nembd768``."""
        text = self.name if text is None else text
        lay, wid = LAYER_RE.search(text), WIDTH_RE.search(text)
        if lay and wid:
            L, d = int(lay.group(1)), int(wid.group(1))
            self.set("params", 12 * L * d * d, f"run name {text!r} (12*L*d^2, L={L}, d={d})",
                     overwrite=False)
            self.params_convention = self.params_convention or "non-embedding 12*L*d^2"
        else:
            m = SIZE_RE.search(text)
            if m:
                n = float(m.group(1)) * UNITS[m.group(2).lower()]
                self.set("params", n, f"run name {text!r}", overwrite=False)
                self.params_convention = self.params_convention or "nominal size from run name"
        mult = MULT_RE.search(text)
        if mult and "params" in self.values:
            k = float(mult.group(1))
            self.set("tokens_total", k * 20 * self.values["params"],
                     f"derived: {mult.group(1)}xC x 20 x N (Chinchilla-optimal tokens) from run name",
                     overwrite=False)
            self.meta["chinchilla_multiplier"] = k

    def from_config(self, cfg: Mapping[str, Any], source: str, *,
                    overwrite: bool | str = True) -> None:
        """Sizes from a config (nested keys flattened, W&B's ``{"value": ...}`` unwrapped):
        the fields of ``CONFIG_KEYS`` by their known keys, else non-embedding params from the
        layers and width; total steps go to ``meta``. ``source`` (the file) is recorded with
        each value; ``overwrite`` as in :meth:`set`."""
        flat = flatten_config(cfg)
        by_norm: dict[str, Any] = {}
        for k, v in flat.items():
            by_norm.setdefault(norm(k.rsplit(".", 1)[-1]), v)
        explicit = set()
        for fld, keys in CONFIG_KEYS.items():
            for k in keys:
                if k in by_norm and as_number(by_norm[k]) is not None:
                    self.set(fld, by_norm[k], f"{source}:{k}", overwrite=overwrite)
                    explicit.add(fld)
                    break
        L = next((as_number(by_norm[k]) for k in LAYER_KEYS if k in by_norm), None)
        d = next((as_number(by_norm[k]) for k in WIDTH_KEYS if k in by_norm), None)
        if L and d and "params" not in explicit:
            before = self.values.get("params")
            n, formula = _block_params(by_norm, L, d)
            self.set("params", n, f"{source}: {formula} (L={L:g}, d={d:g})",
                     overwrite=overwrite)
            if self.values.get("params") != before:
                self.params_convention = f"non-embedding {formula}"
            self.meta.setdefault("n_layer", L)
            self.meta.setdefault("d_model", d)
        steps = next((as_number(by_norm[k]) for k in STEPS_KEYS if k in by_norm), None)
        if steps:
            self.meta.setdefault("total_steps", steps)

    def merge(self, other: RunInfo) -> None:
        """Fold in a later part of the same run (later non-missing values win)."""
        self.values.update(other.values)
        self.sources.update(other.sources)
        for k, v in other.meta.items():
            if k == "files":
                self.meta.setdefault("files", [])
                self.meta["files"] += [f for f in v if f not in self.meta["files"]]
            else:
                self.meta[k] = v
        self.tags.update(other.tags)
        if other.source and other.source not in self.source.split(";"):
            self.source = f"{self.source};{other.source}" if self.source else other.source
            self.source_hash = _combine_hash(self.source_hash, other.source_hash)
        self.params_convention = other.params_convention or self.params_convention

    def derive(self) -> None:
        """Fill in ``tokens_total`` or ``flops_total`` from the other and ``params`` by
        C = 6·N·D, when exactly one of the two is known."""
        v, s = self.values, self.sources
        if "tokens_total" not in v and "flops_total" in v and "params" in v:
            v["tokens_total"] = v["flops_total"] / (6 * v["params"])
            s["tokens_total"] = "derived: D = C/(6N)"
            self.meta["flops_convention"] = "C = 6*N*D"
        elif "flops_total" not in v and "tokens_total" in v and "params" in v:
            v["flops_total"] = 6 * v["params"] * v["tokens_total"]
            s["flops_total"] = "derived: C = 6*N*D"
            self.meta["flops_convention"] = "C = 6*N*D"

    def row(self) -> dict[str, Any]:
        """The run as a runs-table row: its values, ``tags`` and ``meta`` (with each value's
        source under ``sources``) as JSON text."""
        meta = dict(self.meta)
        meta["sources"] = dict(self.sources)
        return {
            "run": self.name,
            **self.values,
            "params_convention": self.params_convention,
            "tags": json.dumps(self.tags, ensure_ascii=False, default=str) if self.tags else None,
            "meta": json.dumps(meta, ensure_ascii=False, default=str),
            "source": self.source or None,
            "source_hash": self.source_hash,
        }


def _combine_hash(a: str | None, b: str | None) -> str | None:
    if not a or not b:
        return a or b
    return hashlib.sha256(f"{a}{b}".encode()).hexdigest()
