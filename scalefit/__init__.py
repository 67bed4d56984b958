"""scalefit: fit neural scaling laws and predict language-model loss curves."""

from scalefit.errors import (
    FitError,
    InputError,
    ScalefitError,
    SchemaError,
    StoreError,
    UsageError,
)
from scalefit.laws import Law, get_law, list_laws
from scalefit.store import LogData, Store

__version__ = "0.1.0"

# Heavier parts load on first use, so `import scalefit` stays fast and fitting never imports torch.
_LAZY = {
    "read_logs": "scalefit.io",
    "fit": "scalefit.fitting.api",
    "FitResult": "scalefit.result",
    "clean_points": "scalefit.clean",
    "parse_schedule": "scalefit.schedules",
    "Schedule": "scalefit.schedules",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scalefit' has no attribute {name!r}")


__all__ = [
    "FitError",
    "FitResult",
    "InputError",
    "Law",
    "LogData",
    "ScalefitError",
    "SchemaError",
    "Store",
    "StoreError",
    "UsageError",
    "__version__",
    "clean_points",
    "fit",
    "get_law",
    "list_laws",
    "parse_schedule",
    "read_logs",
    "Schedule",
]
