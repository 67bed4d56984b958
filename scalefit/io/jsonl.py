"""JSON Lines (one object per logged step) and JSON arrays of such objects."""

from __future__ import annotations

import json
from pathlib import Path

from scalefit.errors import InputError
from scalefit.io._common import Options, Parsed, records_table
from scalefit.io.tables import wide_from_table


def read_jsonl(path: Path, opts: Options, name: str) -> Parsed:
    where = str(path)
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
