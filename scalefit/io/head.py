"""What format detection reads of a path: its name and, when a sniffer asks, its first bytes."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from scalefit.errors import InputError
from scalefit.io.columns import classify
from scalefit.io.gz import gunzip_head, inner_name, is_gzip

#: bytes of a file that format detection reads
HEAD_BYTES = 65536


class Head:
    """One path as the sniffers see it.

    ``name`` is the lower-case file name (of the content, for a gzip file); ``is_dir`` is
    looked up once for all the sniffers. The content is read
    once, on a sniffer's first look: formats that know a file by its name decide before that.
    """

    def __init__(self, path: Path):
        self.path = path
        self.is_dir = path.is_dir()
        self.gz = not self.is_dir and is_gzip(path)
        self.name = inner_name(path).lower() if self.gz else path.name.lower()
        self.suffix = Path(self.name).suffix

    @functools.cached_property
    def raw(self) -> bytes:
        """The first :data:`HEAD_BYTES` of the file (decompressed); an empty file is an error."""
        where = str(self.path)
        try:
            if self.gz:  # the content decides, after decompression
                head = gunzip_head(self.path, HEAD_BYTES)
            else:
                with open(self.path, "rb") as f:
                    head = f.read(HEAD_BYTES)
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror or exc}", where=where) from None
        if not head.strip():
            raise InputError("the file is empty", where=where)
        return head

    @functools.cached_property
    def text(self) -> str | None:
        """The head as text; None for a TensorBoard record. Text in another encoding than
        UTF-8, and binary content, are errors: no format reads them."""
        if b"brain.Event" in self.raw[:200]:
            return None
        where = str(self.path)
        wide = _wide_encoding(self.raw)
        if wide:
            raise InputError(f"{wide} text; scalefit reads UTF-8", where=where,
                             hint=f"convert it, e.g. iconv -f {wide} -t UTF-8")
        text = _decode_head(self.raw)
        if text is None:
            raise InputError("binary content that is not a known log format", where=where,
                             hint="give a CSV, JSON Lines, TensorBoard, W&B, HF, Lightning, "
                                  "MLflow or stdout log, or pick --format")
        return text

    @functools.cached_property
    def kind(self) -> str | None:
        """What the head starts with: ``events`` (a TensorBoard record), ``json`` (an object or
        an array), the table kind a CSV header announces (see
        :func:`~scalefit.io.columns.classify`), or None (no header: a text log)."""
        if self.text is None:
            return "events"
        first = _first_line(self.text)
        if first.startswith("{") or first.startswith("["):
            return "json"
        delim = "\t" if first.count("\t") > first.count(",") else ","
        try:
            header = next(csv.reader([first], delimiter=delim))
        except csv.Error:
            header = []
        return classify([h.strip() for h in header]) if len(header) > 1 else None


def _first_line(text: str) -> str:
    """The first non-blank line, stripped (without splitting all of a 64 KiB head)."""
    rest = text.lstrip()  # every line boundary is whitespace
    end = rest.find("\n")
    line = rest if end < 0 else rest[:end]
    return line.splitlines()[0].strip() if line else ""


def _wide_encoding(head: bytes) -> str | None:
    """UTF-16/32 text (Windows shells write logs so), by its byte-order mark."""
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                      (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if head.startswith(bom):
            return name
    return None


def _decode_head(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut by the 64 KiB window
            text = head[: exc.start].decode("utf-8")
        else:
            return None
    return text.removeprefix("\ufeff")  # a UTF-8 byte-order mark (Excel, PowerShell)
