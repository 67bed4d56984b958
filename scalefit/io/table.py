"""A parsed table of columns (from a CSV parser, Arrow or logged records)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scalefit.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa


class Table:
    """A parsed table: its columns by name, as arrays, with the few accessors the readers use.

    Built from a DataFrame or straight from the parser's column arrays; ``column`` wraps one
    array in a Series only when a reader asks for it, since building a DataFrame of a wide log
    (hundreds of metric columns) costs more than parsing it. Text columns from the Arrow parser
    stay Arrow arrays until asked for (``arrow`` hands them over as they are).
    """

    def __init__(self, df: pd.DataFrame | None = None, *,
                 columns: Mapping[str, Any] | None = None, num_rows: int | None = None):
        if df is not None:
            self.column_names = [str(c) for c in df.columns]
            self._cols: dict[str, Any] = {c: df.iloc[:, j]
                                          for j, c in enumerate(self.column_names)}
            self.num_rows = len(df)
        else:
            self._cols = {str(c): a for c, a in (columns or {}).items()}
            self.column_names = list(self._cols)
            self.num_rows = num_rows if num_rows is not None else (
                len(next(iter(self._cols.values()))) if self._cols else 0)
        self._df = df
        self.notes: list[str] = []
        self.digest: Future | None = None

    @property
    def df(self) -> pd.DataFrame:
        """The whole table as a DataFrame (the one it was built from, else built on first use)."""
        if self._df is None or list(self._df.columns) != self.column_names:
            self._df = pd.DataFrame({c: self.column(c) for c in self.column_names})
        return self._df

    def array(self, name: str) -> np.ndarray | pd.Series:
        """The column as stored: a numpy array or a Series."""
        a = self._cols[name]
        return self.column(name) if _is_arrow(a) else a

    def arrow(self, name: str) -> pa.Array | pa.ChunkedArray | None:
        """The column as the Arrow parser left it (text columns), or None."""
        a = self._cols[name]
        return a if _is_arrow(a) else None

    def column(self, name: str) -> pd.Series:
        """The column as a Series named ``name``, wrapping the array without a copy; an Arrow
        text column becomes (once, and is kept as) an Arrow-backed string Series."""
        a = self._cols[name]
        if _is_arrow(a):
            a = self._cols[name] = pd.Series(pd.array(a, dtype=pd.StringDtype("pyarrow")),
                                             name=name)
        return a if isinstance(a, pd.Series) else pd.Series(a, name=name, copy=False)


def _is_arrow(a) -> bool:
    return type(a).__module__.startswith("pyarrow")


def records_table(records: list[dict[str, Any]], where: str) -> Table:
    """A table from logged records (dicts); nested dicts become ``a/b`` columns.

    Missing keys are empty cells; a logged NaN/inf is kept as the text ``nan``/``inf`` so that
    it stays a logged value, and text mixed with numbers is reported by the usual checks. A JSON
    string is text as a CSV cell is (``"2.8"`` reads as 2.8), and a boolean is the word
    ``true``/``false``: never a number.
    """
    flat = [_flatten_record(r) for r in records]
    keys: dict[str, None] = {}
    for r in flat:
        keys.update(dict.fromkeys(r))
    if not keys:
        raise InputError("no values in the records", where=where)
    # plain arrays, no Series per key: a record can hold 10^5 keys, and pandas' per-column
    # overhead, not the values, then decides the time
    cols: dict[str, np.ndarray] = {}
    plain = {int, float, type(None)}
    by_key = {k: [r.get(k) for r in flat] for k in keys}
    numeric = [k for k, vals in by_key.items() if plain.issuperset(map(type, vals))]
    try:  # all numeric keys in one array; None becomes NaN (missing)
        block = np.array([by_key[k] for k in numeric], dtype="float64").reshape(
            len(numeric), len(flat))
    except OverflowError:  # an integer beyond float range: key by key below
        block, numeric = None, []
    odd = set() if block is None else {numeric[i] for i in np.flatnonzero(
        (~np.isfinite(block)).any(axis=1))}
    for i, k in enumerate(numeric):
        if k not in odd or all(v is None or math.isfinite(v) for v in by_key[k]):
            cols[k] = block[i]
    for k, vals in by_key.items():
        if k in cols:
            continue
        # booleans become the words a CSV would hold: a flag column is text, and a
        # boolean among numbers is refused as a non-numeric value, as in a CSV
        cols[k] = np.array([None if v is None or isinstance(v, (dict, list))
                            else ("true" if v else "false") if isinstance(v, bool)
                            else (repr(v) if isinstance(v, float) else v) for v in vals],
                           dtype=object)
    return Table(columns={k: cols[k] for k in keys}, num_rows=len(flat))


def _flatten_record(r: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in r.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten_record(v, key + "/"))
        else:
            out[key] = v
    return out
