"""Column vocabularies and column recognition: which column of a log is the step, the loss,
the tokens ..., and which kind of table a header announces."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from scalefit.errors import InputError


@functools.lru_cache(maxsize=65536)
def norm(name: str) -> str:
    """Lower-case a column name and collapse punctuation: ``Model Size`` -> ``model_size``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


# Common column names (compared after `norm`), most specific first.
STEP_NAMES = ["_step", "step", "global_step", "trainer/global_step", "train/global_step",
              "iter", "iteration", "iterations", "steps", "train/step", "optimizer_step"]
TOKEN_NAMES = ["throughput/total_tokens", "tokens", "total_tokens", "train/tokens", "tokens_seen",
               "num_tokens", "n_tokens", "consumed_tokens", "train/tokens_seen", "num_input_tokens_seen"]
LR_NAMES = ["lr", "learning_rate", "optim/lr", "optim/learning_rate_group0", "optim/learning_rate",
            "train/lr", "train/learning_rate", "lr_0", "lr/group0", "lr-adamw", "lr-adam", "lr-sgd"]
#: per-step FLOPs columns and the factor to FLOPs
FLOPS_NAMES = {"flops": 1.0, "total_flops": 1.0, "train/flops": 1.0,
               "throughput/total_training_flops": 1.0, "throughput/total_training_gflops": 1e9}
LOSS_NAMES = ["loss", "train/loss", "train_loss", "train/CrossEntropyLoss", "lm_loss", "lm loss",
              "val_loss", "val/loss", "eval/loss", "eval_loss", "validation_loss", "valid/loss"]
#: columns that are not metrics (counters, clocks)
SYSTEM_NAMES = {"_runtime", "_timestamp", "timestamp", "time", "wall_time", "walltime", "runtime",
                "epoch", "_wandb", "created_at", "relative_time"}
#: per-run constants that may appear as columns: normalised name -> (runs field or meta key)
RUN_LEVEL = {"learning_rate_peak": "lr_max", "lr_max": "lr_max", "peak_lr": "lr_max",
             "batch_size_in_tokens": "meta:batch_size_tokens", "seq_len": "seq_len",
             "sequence_length": "seq_len"}

# Final-loss tables: synonyms of N, D, C (normalised).
N_NAMES = ["params", "n", "model_size", "n_params", "num_params", "parameters", "nparams",
           "model_params", "non_embedding_params", "params_non_embedding", "size", "param_count",
           "n_parameters", "num_parameters"]
D_NAMES = ["tokens", "t", "d", "n_tokens", "num_tokens", "training_tokens", "train_tokens",
           "dataset_size", "data", "tokens_total", "total_tokens", "data_size"]
C_NAMES = ["flops", "c", "compute", "training_flop", "training_flops", "flop", "total_flops",
           "flops_total", "training_compute", "train_flops"]


def find_column(columns: Iterable[str], candidates: Iterable[str]) -> str | None:
    """The first of ``candidates`` present in ``columns``, exact match first, then normalised."""
    cols = tuple(columns)
    present = _column_set(cols)
    for c in candidates:
        if c in present:
            return c
    by_norm = _norm_map(cols)
    for c in candidates:
        hit = by_norm.get(norm(c))
        if hit is not None:
            return hit
    return None


@functools.lru_cache(maxsize=256)
def _column_set(cols: tuple[str, ...]) -> frozenset[str]:
    return frozenset(cols)


@functools.lru_cache(maxsize=256)
def _norm_map(cols: tuple[str, ...]) -> dict[str, str]:
    by_norm: dict[str, str] = {}
    for c in cols:
        by_norm.setdefault(norm(c), c)
    return by_norm


def pick_column(columns: Iterable[str], option: str | None, candidates: Iterable[str],
                what: str, where: str) -> str | None:
    """A column named by an option (must exist) or found by its common names."""
    cols = list(columns)
    if option is not None:
        if option in cols:
            return option
        hit = find_column(cols, [option])
        if hit is None:
            raise InputError(f"no {what} column {option!r}; columns are {_short(cols)}", where=where,
                             hint=f"name an existing column with --{what}-col")
        return hit
    return find_column(cols, candidates)


_LR_NORM = frozenset(norm(x) for x in LR_NAMES)


def flops_scale(name: str) -> float:
    """Factor from a FLOPs column's unit to FLOPs (``Gflops`` columns count 1e9)."""
    return {norm(k): v for k, v in FLOPS_NAMES.items()}.get(norm(name), 1.0)


@functools.lru_cache(maxsize=65536)
def lr_like(name: str) -> bool:
    """Whether a column name looks like a learning rate: a known LR name (see ``LR_NAMES``)
    or, once normalised, ``lr_<letters>`` with an optional ``_<n>`` (``lr-AdamW``, ``lr_pg_0``)."""
    n = norm(name)
    return n in _LR_NORM or bool(re.fullmatch(r"lr_[a-z]+(_\d+)?", n))


def _short(cols: list[str], k: int = 8) -> str:
    shown = ", ".join(repr(c) for c in cols[:k])
    return f"[{shown}{', ...' if len(cols) > k else ''}]"



RUN_NAMES = ["run", "run_name", "name", "Name", "experiment"]
METRIC_NAMES = ["metric", "key", "tag", "series"]
VALUE_NAMES = ["value", "val", "y"]


def classify(columns: list[str]) -> str | None:
    """Which table kind a header announces: wandb, wandb-panel, long, wide, final (or None)."""
    if "_step" in columns:
        return "wandb"
    step = find_column(columns, STEP_NAMES)
    if step is not None and any(" - " in c for c in columns if c != step):
        return "wandb-panel"
    if find_column(columns, METRIC_NAMES) and find_column(columns, VALUE_NAMES):
        return "long"
    if step is not None:
        return "wide"
    if find_column(columns, N_NAMES) and any("loss" in norm(c) for c in columns):
        return "final"
    if find_column(columns, TOKEN_NAMES) is not None:
        return "wide"  # a tokens axis without steps
    if find_column(columns, N_NAMES) and any("loss" in norm(c) for c in columns):
        return "final"
    return None
