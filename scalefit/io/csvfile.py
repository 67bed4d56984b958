"""Reading a CSV/TSV file into a :class:`~scalefit.io.table.Table`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.io.hashing import hash_soon
from scalefit.io.table import Table

_CSV_KW = dict(engine="c", na_values=[""], keep_default_na=False, encoding="utf-8",
               encoding_errors="strict", low_memory=False)


#: files smaller than this go straight to pandas' C parser, which reads a small file (a few
#: thousand rows, a hundred columns) faster than pyarrow's threads do
ARROW_MIN_BYTES = 1 << 20


def _parse_csv(path: Path, delimiter: str) -> tuple[dict[str, Any], int]:
    """Column arrays of a CSV: by pyarrow where it reads the file, else pandas' C parser."""
    try:
        small = path.stat().st_size < ARROW_MIN_BYTES
    except OSError:
        small = False
    res = None if small else _parse_csv_arrow(path, delimiter)
    return res if res is not None else _parse_csv_pandas(path, delimiter)


_ARROW_BOOL = (["true", "True", "TRUE"], ["false", "False", "FALSE"])


def _parse_csv_arrow(path: Path, delimiter: str) -> tuple[dict[str, Any], int] | None:
    """Column arrays by pyarrow's multi-threaded CSV reader, or None to take pandas' path.

    Big logs are read several times faster, with less memory. Only an empty cell is missing
    and 0/1 stay numbers, as in the pandas path. Anything pyarrow does not read as the pandas
    path would (ragged or broken rows, repeated column names, bad UTF-8 in a text column, an
    empty file) goes to the pandas path, which reads it or gives its usual error.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    try:
        table = pacsv.read_csv(
            path, parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
                true_values=_ARROW_BOOL[0], false_values=_ARROW_BOOL[1]))
    except (pa.ArrowException, OSError, ValueError):
        return None
    names = [str(c) for c in table.column_names]
    if len(set(names)) != len(names) or not names:
        return None
    n = table.num_rows
    big = table.nbytes >= 16 << 20
    columns = table.columns
    del table  # each column's buffers go as soon as its numpy copy is made
    cols: dict[str, Any] = {}
    for name in names:
        col = columns.pop(0)
        t = col.type
        if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_null(t):
            nulls = col.null_count
            if not ((pa.types.is_integer(t) and nulls == 0) or t == pa.float64()):
                col = col.cast(pa.float64())
            a = col.to_numpy()  # an empty float cell is NaN
            if a.dtype.kind == "f" and int(np.count_nonzero(np.isnan(a))) != nulls:
                return None  # a logged nan is a value, not a gap: NaN-filled nulls merge them
            # one block is handed over without a copy, read-only: points are set in place
            cols[name] = a if a.flags.writeable else a.copy()
        elif pa.types.is_boolean(t) and col.null_count == 0:
            cols[name] = col.to_numpy()
        else:  # text (and dates, times): strings as a CSV cell holds them
            if not pa.types.is_string(t) and not pa.types.is_large_string(t):
                if pa.types.is_boolean(t):
                    return None  # true/false with gaps: let pandas type it
                col = col.cast(pa.string())
            cols[name] = col  # a Series when a reader asks (Table.column)
    if big:  # the parser's blocks are freed now; Arrow's pool would keep their pages, and
        # the points built next would come on top of them (a small table is not worth it)
        pa.default_memory_pool().release_unused()
    return cols, n


def _parse_csv_pandas(path: Path, delimiter: str) -> tuple[dict[str, Any], int]:
    """Column arrays of a CSV by pandas' C parser.

    The parser's own column arrays are taken where pandas exposes them (``TextFileReader``'s
    engine): for a log of a few thousand rows and a hundred columns, assembling the DataFrame
    costs as much as the parsing, and the readers only need the arrays. Otherwise (another
    pandas), ``read_csv``'s DataFrame is taken apart; both parse alike and fail alike.
    """
    with pd.read_csv(path, sep=delimiter, iterator=True, **_CSV_KW) as reader:
        read = getattr(getattr(reader, "_engine", None), "read", None)
        if read is not None and getattr(reader, "engine", None) == "c":
            res = read(None)
            if (isinstance(res, tuple) and len(res) == 3 and res[0] is None
                    and isinstance(res[2], dict) and list(res[2]) == list(res[1])):
                cols = {str(c): a for c, a in res[2].items()}
                return cols, len(next(iter(cols.values()))) if cols else 0
    return _parse_csv_dataframe(path, delimiter)


def _parse_csv_dataframe(path: Path, delimiter: str):
    """The public-API path of ``_parse_csv``: ``read_csv``'s DataFrame taken apart."""
    df = pd.read_csv(path, sep=delimiter, **_CSV_KW)
    return {str(c): df.iloc[:, j] for j, c in enumerate(df.columns)}, len(df)


def read_csv_table(path: Path, delimiter: str | None = None, *, digest: bool = False) -> Table:
    """Parse a CSV/TSV with pandas' C parser; every failure is an InputError.

    Only an empty cell is missing: a literal ``nan`` or ``inf`` stays a logged value.
    ``digest``: start hashing the file (``Table.digest``, see :func:`hash_soon`) once parsed.
    """
    where = str(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else sniff_delimiter(path)
    try:
        cols, n = _parse_csv(path, delimiter)
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty", where=where) from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1].replace("Error tokenizing data. C error: ", "")
        raise InputError(f"cannot parse as CSV: {msg} (a corrupt or ragged file?)",
                         where=where) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", where=where) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read: {exc}", where=where) from None
    tbl = Table(columns=cols, num_rows=n)
    if digest:
        tbl.digest = hash_soon(path)
    if _check_last_line(path, len(cols), delimiter):
        tbl.notes.append(f"{path.name}: the last line has no line end; if the file was cut, "
                         "its last value may be partial")
    return tbl


def _check_last_line(path: Path, n_cols: int, delimiter: str) -> bool:
    """A file cut in the middle of its last row (fewer fields, no line end) is an error.

    Returns True when the last line is complete but has no line end (hand-written files often
    lack it; a cut file may too).
    """
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return False
    last = tail.rsplit(b"\n", 1)[-1]
    if n_cols < 2:
        return True
    if b'"' not in last and last.count(delimiter.encode()) + 1 < n_cols:
        raise InputError(f"the last line has {last.count(delimiter.encode()) + 1} of {n_cols} "
                         "fields and no line end: the file is truncated", where=str(path),
                         hint="re-export it or remove the partial last line")
    return True


def sniff_delimiter(path: Path) -> str:
    """``"\t"`` if the first line (its first 64 KiB) holds more tabs than commas, else ``","``."""
    with open(path, "rb") as f:
        head = f.readline(65536)
    return "\t" if head.count(b"\t") > head.count(b",") else ","
