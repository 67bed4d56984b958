"""JSON Lines (one object per logged step) and JSON arrays of such objects."""

from __future__ import annotations

import json
from pathlib import Path

from scalefit.errors import InputError
from scalefit.io.hashing import hash_soon
from scalefit.io.head import Head
from scalefit.io.reader import Options, Parsed
from scalefit.io.table import Table, records_table
from scalefit.io.wide import wide_from_table

#: JSON Lines files at least this big are first tried with Arrow's multi-threaded reader
ARROW_MIN_BYTES = 1 << 20
#: ... and only when their first record fits in this many bytes
ARROW_MAX_LINE = 16 << 10


def sniff_content(path: Path, head: Head) -> bool:
    """JSON objects (or an array of them), not a Trainer state. A text log whose lines start
    with a bracketed tag (``[train] step=1 ...``) is not JSON."""
    if head.kind != "json" or "log_history" in head.text:
        return False
    text = head.text.lstrip()
    return text.startswith("{") or text[1:].lstrip()[:1] in ("{", "]", "")


def read_jsonl(path: Path, opts: Options, name: str) -> Parsed:
    """JSON Lines, or a JSON array, of objects (one per logged step) as a wide table; nested
    keys become ``a/b`` columns. Invalid JSON is an InputError naming the line."""
    where = str(path)
    tbl = _arrow_table(path) if _size(path) >= ARROW_MIN_BYTES else None
    if tbl is not None:
        parsed = wide_from_table(tbl, path, opts, name, "jsonl")
        parsed.digest = tbl.digest
        return parsed
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is not JSON
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", where=where) from None
    if not text.strip():
        raise InputError("the file is empty", where=where)
    stripped = text.lstrip()
    records: list = []
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg} at line {exc.lineno}", where=where) from None
    else:
        lines = text.splitlines()
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                last = i == len(lines) or not any(x.strip() for x in lines[i:])
                raise InputError(
                    f"line {i}: invalid JSON ({exc.msg})" + (" - a truncated file?" if last else ""),
                    where=where) from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputError("expected one JSON object per line (or an array of objects)", where=where)
    if not records:
        raise InputError("no records", where=where)
    return wide_from_table(records_table(records, where), path, opts, name, "jsonl")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _arrow_table(path: Path) -> Table | None:
    """Flat JSON Lines of numbers, text, booleans and nulls by Arrow's reader, as the table
    :func:`~scalefit.io.table.records_table` would build; None for anything else (nested
    objects, lists, NaN literals, mixed types, a BOM, a JSON array, broken lines), which the
    line-by-line path reads or refuses with its usual message."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pajson

    with open(path, "rb") as f:
        head = f.read(ARROW_MAX_LINE).lstrip()
    # many short records: a record of thousands of keys is read faster line by line
    if not head.startswith(b"{") or b"\n" not in head:
        return None
    try:
        table = pajson.read_json(path)
    except (pa.ArrowException, OSError, ValueError):
        return None
    names = list(table.column_names)
    if not names or table.num_rows == 0 or len(set(names)) != len(names):
        return None
    cols: dict = {}
    for name, col in zip(names, table.columns, strict=True):
        t = col.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t):
            if pa.types.is_floating(t) and pc.any(pc.is_nan(col)).as_py():
                return None  # a logged NaN is a value, not a missing key
            if not (pa.types.is_integer(t) and col.null_count == 0):
                col = col.cast(pa.float64())  # null -> NaN: a missing key
            a = col.to_numpy()
            cols[name] = a if a.flags.writeable else a.copy()
        elif pa.types.is_boolean(t):
            # a flag is the word true/false, as the line-by-line path keeps it: text
            v = col.to_numpy(zero_copy_only=False)
            words = np.where(v.astype(bool), "true", "false").astype(object)
            words[col.is_null().to_numpy(zero_copy_only=False)] = None
            cols[name] = words
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            cols[name] = col
        else:
            return None
    tbl = Table(columns=cols, num_rows=table.num_rows)
    tbl.digest = hash_soon(path)
    return tbl
