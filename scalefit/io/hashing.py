"""The hash of a log file (the store keeps it to tell a changed file from the same one)."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future
from pathlib import Path


def file_hash(path: Path) -> str:
    """SHA-256 hex digest of a file, or of a folder: each file below it, in sorted order,
    with its relative path."""
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(path)).encode())
                _hash_file(h, p)
    else:
        _hash_file(h, path)
    return h.hexdigest()


#: files at least this big are hashed in a thread while the reader builds its points
HASH_THREAD_MIN = 4 << 20


def hash_soon(path: Path) -> Future | None:
    """The hash of a big file (:func:`file_hash`), computed in a thread; None for a small one.

    A reader starts it once the file is parsed: the hash then takes a core of its own while
    the points are built, rather than adding its time after them.
    """
    try:
        if path.stat().st_size < HASH_THREAD_MIN:
            return None
    except OSError:
        return None
    fut: Future = Future()

    def work() -> None:
        try:
            fut.set_result(file_hash(path))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the hash
            fut.set_exception(exc)

    threading.Thread(target=work, name="scalefit-hash", daemon=True).start()
    return fut


def _hash_file(h, path: Path) -> None:
    """Feed a file to ``h`` in blocks: a log of gigabytes is never held whole for its hash."""
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
