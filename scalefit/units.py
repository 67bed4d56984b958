"""Sizes, token counts and budgets as people write them, and warnings when they look wrong.

``parse_quantity("7B") == 7e9``: the suffixes k/K (1e3), M (1e6), G/B (1e9) and T (1e12),
upper or lower case except ``m``, which could be milli as well as million. A fit asked about
N = 7 (billions meant, parameters read) answers with confident nonsense, so predictions check
their inputs: :func:`input_warnings` flags sizes implausibly small for a language model and
inputs far outside the range the law was fitted on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np

from scalefit.errors import UsageError

__all__ = ["PredictionWarning", "parse_quantity", "input_warnings", "SUFFIXES",
           "MIN_PLAUSIBLE", "FAR_DECADES"]

SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "g": 1e9, "B": 1e9, "b": 1e9,
            "T": 1e12, "t": 1e12}
#: below these a value is not a language model's parameter count, token count or FLOPs
MIN_PLAUSIBLE = {"N": 1e4, "D": 1e5, "C": 6e9}
#: a prediction this many decades beyond the fitted range of N, D or C is flagged
FAR_DECADES = 2.0
_WHAT = {"N": "parameters", "D": "training tokens", "C": "training FLOPs"}
_NUMBER = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]?)\s*")


class PredictionWarning(UserWarning):
    """A prediction whose inputs look wrong (units) or lie far outside the fitted range."""


def parse_quantity(text: str, where: str) -> float:
    """``"7e10"``, ``"70B"``, ``"1.4T"``, ``"500k"`` as a finite float; a UsageError otherwise."""
    s = str(text).replace("_", "")
    m = _NUMBER.fullmatch(s)
    if not m:
        raise UsageError(f"expected a number such as 7e10 or 70B, got {text!r}", where=where,
                         hint="suffixes: k, M, G or B (1e9), T")
    value, suffix = float(m.group(1)), m.group(2)
    if suffix == "m":
        raise UsageError(f"{text!r}: 'm' could mean milli or million", where=where,
                         hint=f"write {m.group(1)}M for million")
    if suffix and suffix not in SUFFIXES:
        raise UsageError(f"unknown suffix {suffix!r} in {text!r}", where=where,
                         hint="suffixes: k, M, G or B (1e9), T")
    value *= SUFFIXES.get(suffix, 1.0)
    if not math.isfinite(value):
        raise UsageError(f"{text!r} is not a finite number", where=where)
    return value


def _fmt(x: float) -> str:
    if abs(x) >= 1e15:
        return f"{x:.3g}"
    for s, f in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= f:
            return f"{x / f:.3g}{s}"
    return f"{x:.3g}"


def input_warnings(inputs: Mapping[str, object],
                   fitted: Mapping[str, tuple[float, float]] | None = None) -> list[str]:
    """Warnings about prediction inputs: N, D or C implausibly small for a language model (a
    units slip: billions given as plain numbers) and below a tenth of the fitted range, and inputs more than :data:`FAR_DECADES`
    decades outside ``fitted`` (name -> (min, max) of the data the law was fitted on)."""
    out = []
    for k, lo_ok in MIN_PLAUSIBLE.items():
        if k not in inputs:
            continue
        x = np.asarray(inputs[k], float)
        # a law fitted on tiny models (a CPU ladder) may be asked about them
        floor = min(lo_ok, (fitted or {}).get(k, (math.inf, 0))[0] / 10)
        small = x[np.isfinite(x) & (x < floor)]
        if small.size:
            v = float(small.min())
            out.append(f"{k} = {v:.4g} {_WHAT[k]} is implausibly small for a language model "
                       f"(below {lo_ok:.0e}): {k} counts {_WHAT[k]}, not billions of them; "
                       f"for {v:g} billion write {k}={v:g}B ({k}={v * 1e9:.3g})")
    for k, (lo, hi) in (fitted or {}).items():
        if k not in inputs or not (lo > 0 and hi > 0):
            continue
        x = np.asarray(inputs[k], float)
        x = x[np.isfinite(x) & (x > 0)]
        if not x.size:
            continue
        above = math.log10(float(x.max()) / hi)
        below = math.log10(lo / float(x.min()))
        if above > FAR_DECADES:
            out.append(f"{k} = {_fmt(float(x.max()))} is {above:.1f} decades above the largest "
                       f"{k} the law was fitted on ({_fmt(hi)}): an extrapolation this far is "
                       "a guess, whatever its interval says")
        if below > FAR_DECADES:
            out.append(f"{k} = {_fmt(float(x.min()))} is {below:.1f} decades below the smallest "
                       f"{k} the law was fitted on ({_fmt(lo)})")
    return out
