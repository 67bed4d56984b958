"""The fitting engine: data sets, objectives, multi-start optimisation, bootstrap, backtests.

>>> import scalefit
>>> res = scalefit.fit("data/chinchilla.csv", law="chinchilla", bootstrap=200)  # doctest: +SKIP
>>> res.params_["alpha"], res.ci_["alpha"]  # doctest: +SKIP

The names below load with their module on first use: a module lower in the stack (the curve
fits, the laws' conformance suite) can import ``scalefit.fitting.optimize`` without running
``fit``'s module, which imports the results above it.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "fit": "api", "fit_dataset": "api", "prepare": "api",
    "backtest": "backtest", "compare": "backtest", "parse_holdout": "backtest",
    "bootstrap": "bootstrap", "delta_method": "bootstrap", "resample_weights": "bootstrap",
    "Dataset": "dataset", "build_dataset": "dataset", "choose_metric": "dataset",
    "OBJECTIVES": "objective", "Objective": "objective", "make_objective": "objective",
    "Problem": "optimize", "batched_lbfgs": "optimize", "make_parameters": "optimize",
    "multistart": "optimize",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
