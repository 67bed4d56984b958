"""Whole loss curves under any learning-rate schedule: laws, data, fitting, search."""

from scalefit.curves.data import Curve, CurveData, multipower_curves, read_curve
from scalefit.curves.fit import curve_errors, fit_curves
from scalefit.curves.laws import (
    CURVE_LAWS,
    CurveLaw,
    JointLaw,
    LRAnnealing,
    MultiPower,
    get_curve_law,
)
from scalefit.curves.result import CurveFitResult

__all__ = [
    "CURVE_LAWS",
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
    "multipower_curves",
    "read_curve",
]
