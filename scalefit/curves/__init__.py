"""Whole loss curves under any learning-rate schedule: laws, data, fitting, search.

The fitting code (and the parts of scipy it needs) loads on first use: the command line asks
whether a law name is a curve law for every fit, final-loss fits included.
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
    "fit_curves": "scalefit.curves.fit",
    "CURVE_LAWS": "scalefit.curves.laws",
    "CurveLaw": "scalefit.curves.laws",
    "JointLaw": "scalefit.curves.laws",
    "LRAnnealing": "scalefit.curves.laws",
    "MultiPower": "scalefit.curves.laws",
    "get_curve_law": "scalefit.curves.laws",
    "CurveFitResult": "scalefit.curves.result",
}

_SUBMODULES = ("data", "fit", "kernels", "laws", "plot", "result", "search")


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
    if name in _SUBMODULES:  # ``scalefit.curves.fit`` after a bare ``import scalefit.curves``
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
