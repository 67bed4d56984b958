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

__all__ = [
    "FitError",
    "InputError",
    "Law",
    "LogData",
    "ScalefitError",
    "SchemaError",
    "Store",
    "StoreError",
    "UsageError",
    "__version__",
    "get_law",
    "list_laws",
]
