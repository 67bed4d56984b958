"""gzip-compressed logs: recognised by their magic bytes, decompressed with a size limit."""

from __future__ import annotations

from pathlib import Path

from scalefit.errors import InputError

#: most bytes a gzip-compressed log may inflate to; past it the file is refused (a
#: decompression bomb fills memory or disk long before it would finish)
MAX_DECOMPRESSED = 4 << 30


def is_gzip(path: Path) -> bool:
    """A gzip-compressed log (by its magic bytes); TensorBoard files are read as they are."""
    if path.is_dir() or "tfevents" in path.name.lower():
        return False
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def inner_name(path: Path) -> str:
    """The name of a compressed file's content (the name without ``.gz``)."""
    name = path.name
    return name[:-3] if name.lower().endswith(".gz") and len(name) > 3 else name


def _gunzip_errors():
    import gzip
    import zlib

    return (gzip.BadGzipFile, EOFError, zlib.error)


def gunzip(path: Path, folder: Path, limit: int | None = None) -> Path:
    """Decompress ``path`` into ``folder`` (named without ``.gz``), at most ``limit`` bytes."""
    import gzip

    limit = MAX_DECOMPRESSED if limit is None else limit
    out = folder / inner_name(path)
    total = 0
    try:
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            while True:
                block = src.read(min(1 << 20, limit + 1 - total))
                if not block:
                    break
                total += len(block)
                if total > limit:
                    raise InputError(
                        f"decompresses to more than {_size(limit)}: a decompression bomb, or a "
                        "log too large to read compressed", where=str(path),
                        hint="decompress it yourself (gunzip -k) and give the plain file")
                dst.write(block)
    except _gunzip_errors() as exc:
        raise InputError(f"corrupt or truncated gzip file ({exc})", where=str(path),
                         hint="check it with gzip -t; re-copy or re-export it") from None
    return out


def gunzip_head(path: Path, n: int = 65536) -> bytes:
    """The first ``n`` decompressed bytes of a gzip file; a corrupt one is an InputError."""
    import gzip

    try:
        with gzip.open(path, "rb") as f:
            return f.read(n)
    except _gunzip_errors() as exc:
        raise InputError(f"corrupt or truncated gzip file ({exc})", where=str(path),
                         hint="check it with gzip -t; re-copy or re-export it") from None


def _size(n: int) -> str:
    for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:g} {unit}"
    return f"{n} bytes"
