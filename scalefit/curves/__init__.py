"""Whole loss curves under any learning-rate schedule: the public names in one place.

The parts live in the layers every fit shares: the curve laws in :mod:`scalefit.laws.curve`
(kernels in :mod:`scalefit.laws.curve_kernels`), their fit in :mod:`scalefit.fitting.curves`,
the schedule search in :mod:`scalefit.fitting.schedule_search`; curves as data in
:mod:`scalefit.curves.data`, the result in :mod:`scalefit.curves.result`, the figure in
:mod:`scalefit.curves.plot`. Each loads on first use: the command line asks whether a law name
is a curve law for every fit, final-loss fits included, and scipy's signal code is slow to load.
"""

from __future__ import annotations

#: the curve laws :func:`get_curve_law` builds by name, plus ``joint_<law>`` across sizes
#: (kept in step with ``CURVE_LAWS`` by tests/test_public_api.py)
CURVE_LAW_NAMES = ("multi_power", "lr_annealing", "ensemble")

_LAZY = {
    "Curve": "scalefit.curves.data",
    "CurveData": "scalefit.curves.data",
    "multipower_curves": "scalefit.curves.data",
    "read_curve": "scalefit.curves.data",
    "curve_errors": "scalefit.curves.data",
    "fit_curves": "scalefit.fitting.curves",
    "CURVE_LAWS": "scalefit.laws.curve",
    "CurveLaw": "scalefit.laws.curve",
    "JointLaw": "scalefit.laws.curve",
    "LRAnnealing": "scalefit.laws.curve",
    "MultiPower": "scalefit.laws.curve",
    "get_curve_law": "scalefit.laws.curve",
    "CurveFitResult": "scalefit.curves.result",
}

_SUBMODULES = ("data", "plot", "result")


def is_curve_law_name(name: str) -> bool:
    """Whether ``name`` (options after ``:`` allowed) names a curve law, without importing
    the curve laws."""
    base = str(name).partition(":")[0].strip()
    return base in CURVE_LAW_NAMES or base == "joint" or base.startswith("joint_")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:  # ``scalefit.fitting.curves`` after a bare ``import scalefit.curves``
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'scalefit.curves' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(globals()))


__all__ = [
    "CURVE_LAWS",
    "CURVE_LAW_NAMES",
    "Curve",
    "CurveData",
    "CurveFitResult",
    "CurveLaw",
    "JointLaw",
    "LRAnnealing",
    "MultiPower",
    "curve_errors",
    "fit_curves",
    "get_curve_law",
    "is_curve_law_name",
    "multipower_curves",
    "read_curve",
]
