"""TensorBoard event files, read with the tensorboard package (no TensorFlow needed)."""

from __future__ import annotations

import struct
from pathlib import Path

from scalefit.errors import InputError
from scalefit.io.head import Head
from scalefit.io.reader import Options, Parsed
from scalefit.io.table import records_table
from scalefit.io.wide import wide_from_table


def sniff_layout(path: Path, head: Head) -> bool:
    """An event file by its name, or a folder with event files anywhere below it (asked
    after the formats whose folders hold their own marker files)."""
    if head.is_dir:
        return next(iter(path.rglob("*tfevents*")), None) is not None
    return "tfevents" in head.name


def sniff_content(path: Path, head: Head) -> bool:
    """A file that starts with a TensorBoard event record (whatever its name)."""
    return head.kind == "events"


def read_events(path: Path, opts: Options, name: str) -> Parsed:
    """Scalars (``simple_value``) and scalar tensors of every event file under ``path``.

    A folder gives one run per sub-folder holding event files (named by its relative path,
    as TensorBoard does); a single file gives one run named after its folder.
    """
    if path.is_dir():
        files = sorted(p for p in path.rglob("*tfevents*") if p.is_file())
        if not files:
            raise InputError("no TensorBoard event files in this folder", where=str(path))
        groups: dict[str, list[Path]] = {}
        for f in files:
            rel = f.parent.relative_to(path).as_posix()
            run = name if rel == "." else rel
            groups.setdefault(run, []).append(f)
    else:
        groups = {name if opts.run else (path.parent.name or name): [path]}
    out = Parsed([], [], [])
    for run, fs in groups.items():
        records = []
        for f in fs:  # files in name order = time order (the name holds the start time)
            recs, notes = _scalars(f)
            records += recs
            out.notes += notes
        if not records:
            out.notes.append(f"{run}: no scalar summaries")
            continue
        sub = Options(**{**opts.__dict__, "step_col": "step"})
        parsed = wide_from_table(records_table(records, str(fs[0])), fs[0], sub, run,
                                 "tensorboard")
        for info in parsed.infos:
            info.source = str(path)
        out.extend(parsed)
    if not out.infos:
        raise InputError("no scalar summaries in the event file(s)", where=str(path))
    return out


def _scalars(file: Path) -> tuple[list[dict], list[str]]:
    """Scalar records of one event file, and notes on damaged records.

    The tensorboard package reads the records; it stops quietly at the first one whose CRC
    fails, so the file's framing is walked here too. A record whose data CRC fails is skipped
    with a note (its length is intact, so the records after it are read); a record whose
    length CRC fails ends the reading with a note, since nothing after it can be framed.
    Either way the note names the file, the record's byte offset and the points kept: losing
    one logged step is better than losing the run, and the note says what was lost. A file
    cut inside its last record is an error (see ``_framing``).
    """
    try:
        from tensorboard.backend.event_processing import event_file_loader
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
    except ImportError:
        raise InputError("reading TensorBoard files needs the tensorboard package",
                         where=str(file), hint="pip install 'scalefit[tensorboard]'") from None
    where = str(file)
    if file.stat().st_size == 0:
        raise InputError("the file is empty", where=where)
    try:
        loader = event_file_loader.RawEventFileLoader(str(file), detect_file_replacement=False)
        raws = list(loader.Load())
    except Exception as exc:  # DataLossError, ...: a damaged file
        raise InputError(f"corrupt or truncated event file ({type(exc).__name__}: {exc})",
                         where=where) from None
    data = file.read_bytes()
    frames, stop = _framing(data, masked_crc32c, where)
    skipped: list[tuple[int, int]] = []  # (record index, offset) of records whose data CRC fails
    if len(raws) < len(frames):
        for k in range(len(raws), len(frames)):  # where the loader stopped: check each record
            off, length = frames[k]
            body = data[off + 12:off + 12 + length]
            (crc,) = struct.unpack("<I", data[off + 12 + length:off + 16 + length])
            if masked_crc32c(body) == crc:
                raws.append(body)
            else:
                skipped.append((k, off))
    if not raws and not skipped and stop is None:
        raise InputError("no events: not a TensorBoard event file, or truncated", where=where)
    records = _decode(raws, where)
    notes = []
    n = len(frames) + (stop is not None)
    if skipped:
        k, off = skipped[0]
        more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
        notes.append(f"{where}: record {k + 1} of {n} (byte offset {off}){more} failed the data "
                     f"CRC check and was skipped; {len(records)} point(s) kept")
    if stop is not None:
        notes.append(f"{where}: record {len(frames) + 1} (byte offset {stop}) failed the length "
                     f"CRC check; the rest of the file ({len(data) - stop} bytes) was not read; "
                     f"{len(records)} point(s) kept")
    return records, notes


def _decode(raws: list[bytes], where: str) -> list[dict]:
    """``{"step": step, tag: value}`` per scalar (or one-element tensor) in the raw events."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.util import tensor_util

    records: list[dict] = []
    try:
        for raw in raws:
            ev = event_pb2.Event.FromString(raw)
            if not ev.HasField("summary"):
                continue
            for v in ev.summary.value:
                kind = v.WhichOneof("value")
                if kind == "simple_value":
                    x = float(v.simple_value)
                elif kind == "tensor":
                    arr = tensor_util.make_ndarray(v.tensor)
                    if arr.size != 1 or arr.dtype.kind not in "fiub":
                        continue
                    x = float(arr.reshape(()))
                else:
                    continue
                records.append({"step": float(ev.step), v.tag: x})
    except Exception as exc:  # DecodeError, ...: a record that passed its CRC but is no Event
        raise InputError(f"corrupt event file ({type(exc).__name__}: {exc})",
                         where=where) from None
    return records


def _framing(data: bytes, crc, where: str) -> tuple[list[tuple[int, int]], int | None]:
    """(offset, length) of each record up to the end or to the first record whose length CRC
    fails (its offset is returned second). A record cut short by the end of the file is an
    error: the loader stops quietly there too."""
    frames: list[tuple[int, int]] = []
    pos, n = 0, len(data)
    while pos < n:
        if n - pos < 12:
            raise InputError(f"truncated event file: {n - pos} stray byte(s) at offset {pos}",
                             where=where)
        head = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", head)
        if crc(head) != struct.unpack("<I", data[pos + 8:pos + 12])[0]:
            return frames, pos
        end = pos + 12 + length + 4
        if end > n:
            raise InputError(f"truncated event file: record at offset {pos} needs "
                             f"{end - pos} bytes, {n - pos} left", where=where)
        frames.append((pos, length))
        pos = end
    return frames, None
