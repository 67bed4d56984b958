"""Plain-text training logs: nanoGPT and Megatron-LM presets, or any regex with named groups."""

from __future__ import annotations

import re
from pathlib import Path

from scalefit.errors import InputError, UsageError
from scalefit.io.head import Head
from scalefit.io.numbers import as_number
from scalefit.io.reader import Options, Parsed
from scalefit.io.table import records_table
from scalefit.io.wide import wide_from_table

# a text log has no table header (Head.kind None) and shows its format in its lines
_MEGATRON_SIGN = re.compile(r"iteration\s+\d+\s*/\s*\d+\s*\|.*loss", re.I)
_NANOGPT_SIGN = re.compile(r"^(iter \d+: loss [-+0-9.eEnaif]+|step \d+: train loss)", re.M)


def sniff_megatron(path: Path, head: Head) -> bool:
    """A text log whose head has a Megatron-LM ``iteration N/ M | ... loss`` line."""
    return head.kind is None and bool(_MEGATRON_SIGN.search(head.text))


def sniff_nanogpt(path: Path, head: Head) -> bool:
    """A text log whose head has a nanoGPT ``iter N: loss X`` or ``step N: train loss`` line."""
    return head.kind is None and bool(_NANOGPT_SIGN.search(head.text))

_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
NANOGPT = [
    re.compile(rf"^\s*iter (?P<step>\d+): loss (?P<loss>{_NUM})"),
    re.compile(rf"^\s*step (?P<step>\d+): train loss (?P<train_loss>{_NUM}), "
               rf"val loss (?P<val_loss>{_NUM})"),
]
_MEGATRON_STEP = re.compile(r"iteration\s+(\d+)\s*/\s*(\d+)\s*\|")
_MEGATRON_VAL = re.compile(r"validation loss at iteration\s+(\d+)\s*\|(.*)")
#: Megatron fields that are counters or timings, not curves
_MEGATRON_SKIP = {"consumed samples", "consumed tokens", "elapsed time per iteration (ms)",
                  "global batch size", "loss scale", "number of skipped iterations",
                  "number of nan iterations", "throughput per GPU (TFLOP/s/GPU)"}


def _text(path: Path) -> list[str]:
    """The complete lines of a log; a last line without a line end may be cut, so it is left out."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", where=str(path)) from None
    if not text.strip():
        raise InputError("the file is empty", where=str(path))
    lines = text.splitlines()
    if not text.endswith(("\n", "\r")) and len(lines) > 1:
        lines = lines[:-1]
    return lines


def _finish(records: list[dict], path: Path, opts: Options, name: str, fmt: str,
            what: str) -> Parsed:
    if not records:
        raise InputError(f"no {what} lines found", where=str(path),
                         hint="pick the right --preset or give --regex")
    sub = Options(**{**opts.__dict__, "step_col": "step"})
    return wide_from_table(records_table(records, str(path)), path, sub, name, fmt)


def read_nanogpt(path: Path, opts: Options, name: str) -> Parsed:
    """A nanoGPT log: ``loss`` from ``iter N: loss X`` lines, ``train_loss`` and ``val_loss``
    from ``step N: train loss X, val loss Y`` lines; other lines are skipped."""
    records = []
    for line in _text(path):
        for rx in NANOGPT:
            m = rx.search(line)
            if m:
                records.append({k: float(v) for k, v in m.groupdict().items()})
                break
    return _finish(records, path, opts, name, "nanogpt", "nanoGPT 'iter N: loss X'")


def read_megatron(path: Path, opts: Options, name: str) -> Parsed:
    """A Megatron-LM log: each ``key: value`` field of ``iteration N/ M |`` lines (learning
    rate as ``lr``, consumed tokens as ``tokens``; counters, timings and PPL left out), and of
    validation lines as ``val/<key>``; ``M`` goes to ``meta["total_steps"]`` and the global
    batch size to ``batch_size``."""
    records, total, batch = [], None, None
    for line in _text(path):
        m = _MEGATRON_STEP.search(line)
        val = _MEGATRON_VAL.search(line) if m is None else None
        if m is None and val is None:
            continue
        if m is not None:
            rec = {"step": float(m.group(1))}
            total = float(m.group(2))
            fields = line[m.end():]
            prefix = ""
        else:
            rec = {"step": float(val.group(1))}
            fields = val.group(2)
            prefix = "val/"
        for part in fields.split("|"):
            if ":" not in part:
                continue
            key, _, raw = part.rpartition(":")
            key = key.strip()
            v = as_number(raw.strip()) if raw.strip().lower() not in ("nan", "inf") else float(raw)
            if v is None:
                continue
            if key == "learning rate":
                rec["lr"] = v
            elif key == "global batch size":
                batch = v
            elif key == "consumed tokens":
                rec["tokens"] = v
            elif key not in _MEGATRON_SKIP and not key.endswith("PPL"):
                rec[prefix + key.replace(" value", "")] = v
        records.append(rec)
    parsed = _finish(records, path, opts, name, "megatron", "Megatron 'iteration N/ M |'")
    for info in parsed.infos:
        if total:
            info.meta["total_steps"] = total
        if batch:
            info.set("batch_size", batch, "log: global batch size", overwrite=False)
    return parsed


def read_regex(path: Path, opts: Options, name: str) -> Parsed:
    """Each line ``opts.regex`` matches is a record of its named groups, each a number; without
    a ``step`` group the step is the match count. A bad regex is a UsageError, a group that is
    not a number an InputError naming the line."""
    if not opts.regex:
        raise UsageError("the regex format needs a regex with named groups", where="--regex",
                         hint=r"e.g. --regex 'step (?P<step>\d+) loss (?P<loss>\S+)'")
    try:
        rx = re.compile(opts.regex)
    except re.error as exc:
        raise UsageError(f"invalid regex: {exc}", where="--regex") from None
    if not rx.groupindex:
        raise UsageError("the regex has no named groups", where="--regex",
                         hint="name the step and metric groups, e.g. (?P<step>\\d+)")
    records = []
    for i, line in enumerate(_text(path)):
        m = rx.search(line)
        if not m:
            continue
        rec = {}
        for k, v in m.groupdict().items():
            if v is None:
                continue
            x = as_number(v) if v.strip().lower() not in ("nan", "inf", "-inf") else float(v)
            if x is None:
                raise InputError(f"line {i + 1}: group {k!r} matched {v!r}, not a number",
                                 where=str(path))
            rec[k] = x
        if "step" not in rx.groupindex:
            rec["step"] = float(len(records))
        records.append(rec)
    return _finish(records, path, opts, name, "regex", "matching")
