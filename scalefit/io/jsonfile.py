"""A JSON file read whole (a summary, a Trainer state, a config), its errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scalefit.errors import InputError


def load_json(path: Path) -> Any:
    """JSON from a file; an error names it."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", where=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg} at line {exc.lineno}", where=str(path)) from None
