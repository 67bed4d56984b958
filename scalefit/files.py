"""Writing files so that a reader never sees half of one.

Every file scalefit writes (artefacts, reports, figures, logs of the ladder) goes through a
temporary file in the same folder that replaces the target in one step once it is complete:
a crash or a full disk leaves the old file, never a truncated one. The temporary name is unique,
so two writers of the same path do not write into each other's temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]

# mkstemp makes its file readable by its owner alone; a written file gets the mode any new file
# would get (read once here: reading the umask means setting it)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path``; when the block ends without an error it replaces
    ``path`` (atomic on POSIX and Windows), else it is removed and ``path`` is left as it was.

    For writers that want a file name, e.g. ``fig.savefig(tmp, format="png")``.
    """
    target = Path(path)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = False,
                       make_parents: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file; ``fsync`` also flushes it to disk
    before the replace (for logs that must survive a power cut, not for figures)."""
    with atomic_path(path, make_parents=make_parents) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8",
                      fsync: bool = False) -> Path:
    """Write ``text`` to ``path`` through a temporary file (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)
