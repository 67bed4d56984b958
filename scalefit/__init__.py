"""scalefit: fit neural scaling laws and predict language-model loss curves."""

from scalefit.errors import (
    FitError,
    InputError,
    ScalefitError,
    SchemaError,
    StoreError,
    UsageError,
)
from scalefit.version import __version__

# Everything else loads on first use, so `import scalefit` (and `scalefit --help`) stays fast:
# the laws and the store bring numpy, pandas and pyarrow; fitting never imports torch.
_LAZY = {
    "Law": "scalefit.laws",
    "get_law": "scalefit.laws",
    "list_laws": "scalefit.laws",
    "LogData": "scalefit.store",
    "Store": "scalefit.store",
    "read_logs": "scalefit.io",
    "fit": "scalefit.fitting.api",
    "FitResult": "scalefit.result",
    "clean_points": "scalefit.clean",
    "parse_schedule": "scalefit.schedules",
    "Schedule": "scalefit.schedules",
    "compare": "scalefit.fitting.backtest",
    "isoflop": "scalefit.fitting.isoflop",
    "fit_curves": "scalefit.curves",
    "CurveFitResult": "scalefit.curves",
    "build_report": "scalefit.report",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scalefit' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazy names too, so that dir() and tab completion show the whole public API
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "FitError",
    "CurveFitResult",
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
    "build_report",
    "clean_points",
    "compare",
    "fit",
    "fit_curves",
    "get_law",
    "isoflop",
    "list_laws",
    "parse_schedule",
    "read_logs",
    "Schedule",
]
