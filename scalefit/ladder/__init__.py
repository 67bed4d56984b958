"""The ladder trainer: small GPTs trained on CPU or GPU, their curves written into a store.

Needs torch (the ``ladder`` extra). ``scalefit.ladder.config`` and ``scalefit.ladder.plan``
work without it; the model, data batches as tensors and the trainer import it.
"""

from __future__ import annotations

_LAZY = {
    "GPT": "scalefit.ladder.model",
    "StackedGPT": "scalefit.ladder.model",
    "GPTConfig": "scalefit.ladder.config",
    "Plan": "scalefit.ladder.plan",
    "Rung": "scalefit.ladder.plan",
    "PRESETS": "scalefit.ladder.plan",
    "make_plan": "scalefit.ladder.plan",
    "plan_budget": "scalefit.ladder.plan",
    "build_corpus": "scalefit.ladder.data",
    "open_corpus": "scalefit.ladder.data",
    "get_batch": "scalefit.ladder.data",
    "run_plan": "scalefit.ladder.pool",
    "train_group": "scalefit.ladder.train",
    "lr_sweep": "scalefit.ladder.sweep",
    "read_sweep": "scalefit.ladder.sweep",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scalefit.ladder' has no attribute {name!r}")
