"""Numbers in user files: config values with units (``190M``), numeric columns, step columns."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from scalefit.errors import InputError

#: unit suffixes of numbers written for people (``190M``, ``1.3b``, ``2T``)
UNITS = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


def as_number(v: Any) -> float | None:
    """A finite float from a config value (numbers, numeric strings like ``1.9e8`` or ``190M``)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        s = v.strip().replace("_", "")
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMbBtT])", s)
        if m:
            return float(m.group(1)) * UNITS[m.group(2).lower()]
        try:
            f = float(s)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


_LITERAL_NAN = {"nan", "-nan", "+nan", "none", "null", "na", "n/a"}


def numeric_column(col: pd.Series | np.ndarray, name: str,
                   where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(values as float64 with NaN where empty, present mask) or None for a text column.

    A text column with some numbers and some words is an error: a number was expected. A
    parsed float64 array comes back as it is (no copy): a million-row column is handed on.
    """
    kind = col.dtype.kind
    if kind == "b":
        return None  # true/false: a flag, not a number
    if kind in "fiu" and isinstance(col, np.ndarray):  # plain numpy: no NA to fill
        vals = col if col.dtype == np.float64 else col.astype("float64")
        return vals, ~np.isnan(vals) if kind == "f" else np.ones(len(vals), bool)
    if not isinstance(col, pd.Series):
        col = pd.Series(col, copy=False)
    if kind in "fiu":
        vals = col.to_numpy(dtype="float64", na_value=np.nan)
        return vals, ~np.isnan(vals) if kind == "f" else col.notna().to_numpy(dtype=bool)
    present = col.notna().to_numpy(dtype=bool)
    if not present.any():
        return np.full(len(col), np.nan), present
    s = col.astype(object)
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    unparsed = present & np.isnan(num)
    if unparsed.any():
        txt = s[unparsed].astype(str).str.strip().str.lower()
        lit = txt.isin(_LITERAL_NAN).to_numpy(dtype=bool)
        bad_idx = np.flatnonzero(unparsed)[~lit]
    else:
        bad_idx = np.array([], int)
    if len(bad_idx) == 0:
        return num, present
    if len(bad_idx) == int(present.sum()):
        return None  # a text column (names, phases): not a metric
    i = int(bad_idx[0])
    raise InputError(f"column {name!r} holds a non-numeric value {s.iloc[i]!r} at data row {i + 1}",
                     where=where, hint="fix or remove that row")


#: largest step accepted: integers above 2^53 are not exact in float64
MAX_STEP = 2.0**53


def check_steps(step: np.ndarray, where: str, col: str, *, integral: bool = False) -> np.ndarray:
    """Steps as float (NaN = missing); non-integer or infinite steps are an error.

    ``integral``: the column was parsed as integers, so only the range needs a look.
    """
    if len(step):  # the common case in two passes: every step a finite integer in range
        lo, hi = float(step.min()), float(step.max())  # NaN if any step is
        if (math.isfinite(lo) and math.isfinite(hi) and max(-lo, hi) <= MAX_STEP
                and (integral or np.array_equal(step, np.round(step)))):
            return step
    fin = np.isfinite(step)
    if np.any(np.isinf(step)):
        raise InputError(f"column {col!r} holds an infinite step", where=where)
    huge = fin & (np.abs(step) > MAX_STEP)
    if huge.any():  # beyond 2^53 a float step is no longer an exact integer (and int64 overflows)
        i = int(np.argmax(huge))
        raise InputError(f"column {col!r} holds a step {step[i]:.4g} (row {i + 1}) larger than "
                         "any step count", where=where,
                         hint="is it a tokens or time column? name the step column with --step-col")
    bad = fin & (step != np.round(step))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"column {col!r} holds a non-integer step {step[i]!r} (row {i + 1})",
                         where=where, hint="name the step column with --step-col")
    return step
