"""TensorBoard event files, read with the tensorboard package (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

from scalefit.errors import InputError
from scalefit.io._common import Options, Parsed, records_table
from scalefit.io.tables import wide_from_table


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
            records += _scalars(f)
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


def _scalars(file: Path) -> list[dict]:
    try:
        from tensorboard.backend.event_processing import event_file_loader
        from tensorboard.util import tensor_util
    except ImportError:
        raise InputError("reading TensorBoard files needs the tensorboard package",
                         where=str(file), hint="pip install 'scalefit[tensorboard]'") from None
    where = str(file)
    if file.stat().st_size == 0:
        raise InputError("the file is empty", where=where)
    records: list[dict] = []
    n_events = 0
    try:
        loader = event_file_loader.RawEventFileLoader(str(file), detect_file_replacement=False)
        from tensorboard.compat.proto import event_pb2

        for raw in loader.Load():
            ev = event_pb2.Event.FromString(raw)
            n_events += 1
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
    except InputError:
        raise
    except Exception as exc:  # DataLossError, DecodeError, ...: a damaged file
        raise InputError(f"corrupt or truncated event file ({type(exc).__name__}: {exc})",
                         where=where) from None
    if n_events == 0:
        raise InputError("no events: not a TensorBoard event file, or truncated", where=where)
    expected = _expected_size(file)
    if expected is not None:
        raise InputError(f"truncated event file: {expected}", where=where)
    return records


def _expected_size(file: Path) -> str | None:
    """Check the TFRecord framing: the loader stops quietly at a cut record, so look ourselves."""
    import struct

    data = file.read_bytes()
    pos, n = 0, len(data)
    while pos < n:
        if n - pos < 12:
            return f"{n - pos} stray byte(s) at offset {pos}"
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        end = pos + 12 + length + 4
        if end > n:
            return f"record at offset {pos} needs {end - pos} bytes, {n - pos} left"
        pos = end
    return None
