"""Shared pieces of the readers: column names, run metadata, wide-to-long melting, CSV parsing."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalefit.errors import InputError

POINT_FIELDS = ["run", "step", "tokens", "flops", "lr", "metric", "value"]


@functools.lru_cache(maxsize=65536)
def norm(name: str) -> str:
    """Lower-case a column name and collapse punctuation: ``Model Size`` -> ``model_size``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


# Common column names (compared after `norm`), most specific first.
STEP_NAMES = ["_step", "step", "global_step", "trainer/global_step", "train/global_step",
              "iter", "iteration", "iterations", "steps", "train/step", "optimizer_step"]
TOKEN_NAMES = ["throughput/total_tokens", "tokens", "total_tokens", "train/tokens", "tokens_seen",
               "num_tokens", "n_tokens", "consumed_tokens", "train/tokens_seen", "num_input_tokens_seen"]
LR_NAMES = ["lr", "learning_rate", "optim/lr", "optim/learning_rate_group0", "optim/learning_rate",
            "train/lr", "train/learning_rate", "lr_0", "lr/group0", "lr-adamw", "lr-adam", "lr-sgd"]
#: per-step FLOPs columns and the factor to FLOPs
FLOPS_NAMES = {"flops": 1.0, "total_flops": 1.0, "train/flops": 1.0,
               "throughput/total_training_flops": 1.0, "throughput/total_training_gflops": 1e9}
LOSS_NAMES = ["loss", "train/loss", "train_loss", "train/CrossEntropyLoss", "lm_loss", "lm loss",
              "val_loss", "val/loss", "eval/loss", "eval_loss", "validation_loss", "valid/loss"]
#: columns that are not metrics (counters, clocks)
SYSTEM_NAMES = {"_runtime", "_timestamp", "timestamp", "time", "wall_time", "walltime", "runtime",
                "epoch", "_wandb", "created_at", "relative_time"}
#: per-run constants that may appear as columns: normalised name -> (runs field or meta key)
RUN_LEVEL = {"learning_rate_peak": "lr_max", "lr_max": "lr_max", "peak_lr": "lr_max",
             "batch_size_in_tokens": "meta:batch_size_tokens", "seq_len": "seq_len",
             "sequence_length": "seq_len"}

# Final-loss tables: synonyms of N, D, C (normalised).
N_NAMES = ["params", "n", "model_size", "n_params", "num_params", "parameters", "nparams",
           "model_params", "non_embedding_params", "params_non_embedding", "size", "param_count",
           "n_parameters", "num_parameters"]
D_NAMES = ["tokens", "t", "d", "n_tokens", "num_tokens", "training_tokens", "train_tokens",
           "dataset_size", "data", "tokens_total", "total_tokens", "data_size"]
C_NAMES = ["flops", "c", "compute", "training_flop", "training_flops", "flop", "total_flops",
           "flops_total", "training_compute", "train_flops"]


def find_column(columns: Iterable[str], candidates: Iterable[str]) -> str | None:
    """The first of ``candidates`` present in ``columns``, exact match first, then normalised."""
    cols = tuple(columns)
    present = _column_set(cols)
    for c in candidates:
        if c in present:
            return c
    by_norm = _norm_map(cols)
    for c in candidates:
        hit = by_norm.get(norm(c))
        if hit is not None:
            return hit
    return None


@functools.lru_cache(maxsize=256)
def _column_set(cols: tuple[str, ...]) -> frozenset[str]:
    return frozenset(cols)


@functools.lru_cache(maxsize=256)
def _norm_map(cols: tuple[str, ...]) -> dict[str, str]:
    by_norm: dict[str, str] = {}
    for c in cols:
        by_norm.setdefault(norm(c), c)
    return by_norm


def pick_column(columns: Iterable[str], option: str | None, candidates: Iterable[str],
                what: str, where: str) -> str | None:
    """A column named by an option (must exist) or found by its common names."""
    cols = list(columns)
    if option is not None:
        if option in cols:
            return option
        hit = find_column(cols, [option])
        if hit is None:
            raise InputError(f"no {what} column {option!r}; columns are {_short(cols)}", where=where,
                             hint=f"name an existing column with --{what}-col")
        return hit
    return find_column(cols, candidates)


_LR_NORM = frozenset(norm(x) for x in LR_NAMES)


def flops_scale(name: str) -> float:
    """Factor from a FLOPs column's unit to FLOPs (``Gflops`` columns count 1e9)."""
    return {norm(k): v for k, v in FLOPS_NAMES.items()}.get(norm(name), 1.0)


@functools.lru_cache(maxsize=65536)
def lr_like(name: str) -> bool:
    n = norm(name)
    return n in _LR_NORM or bool(re.fullmatch(r"lr_[a-z]+(_\d+)?", n))


def _short(cols: list[str], k: int = 8) -> str:
    shown = ", ".join(repr(c) for c in cols[:k])
    return f"[{shown}{', ...' if len(cols) > k else ''}]"


# ----------------------------------------------------------------------------- run metadata
_UNITS = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_SEP = r"(?:^|(?<=[-_/ .:=]))"
_END = r"(?=$|[-_/ .:,])"
# model sizes in names are M or B ("190M", "1.3b"); k and T usually mean steps and tokens
SIZE_RE = re.compile(_SEP + r"(\d+(?:\.\d+)?)([mMbB])" + _END)
MULT_RE = re.compile(_SEP + r"(\d+(?:\.\d+)?)x[cC]" + _END)
LAYER_RE = re.compile(r"(?:n_?layers?|num_?layers|depth)[=_-]?(\d+)", re.I)
WIDTH_RE = re.compile(r"(?:n_?embd|d_?model|hidden(?:_?size)?|width)[=_-]?(\d+)", re.I)

#: config keys (normalised) -> runs field; the first found wins
CONFIG_KEYS: dict[str, list[str]] = {
    "params": ["non_embedding_params", "n_params", "num_params", "params", "model_params",
               "num_parameters", "n_parameters"],
    "params_total": ["params_total", "total_params", "n_params_total"],
    "tokens_total": ["tokens_total", "train_tokens", "max_tokens", "total_tokens", "num_tokens"],
    "flops_total": ["flops_total", "total_flops", "total_flos"],
    "batch_size": ["global_batch_size", "batch_size", "train_batch_size", "total_batch_size"],
    "seq_len": ["seq_len", "sequence_length", "max_seq_len", "block_size", "seq_length",
                "max_sequence_length", "context_length"],
    "lr_max": ["lr_max", "peak_lr", "max_lr", "learning_rate", "lr", "learning_rate_peak"],
}
LAYER_KEYS = ["n_layer", "n_layers", "num_layers", "num_hidden_layers", "nlayers", "layers", "depth"]
WIDTH_KEYS = ["n_embd", "d_model", "hidden_size", "dim", "model_dim", "emb_dim", "width", "n_embed"]
STEPS_KEYS = ["max_steps", "max_iters", "total_steps", "train_steps", "num_train_steps", "max_iter"]


def as_number(v: Any) -> float | None:
    """A finite float from a config value (numbers, numeric strings like ``1.9e8`` or ``190M``)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        s = v.strip().replace("_", "")
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMbBtT])", s)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2).lower()]
        try:
            f = float(s)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def flatten_config(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to ``a.b.c`` keys; W&B's ``{"key": {"value": v, "desc": ...}}`` unwrapped."""
    out: dict[str, Any] = {}
    if not isinstance(cfg, Mapping):
        return out
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and "value" in v and set(v) <= {"value", "desc"}:
            v = v["value"]
        if isinstance(v, Mapping):
            out.update(flatten_config(v, key + "."))
        else:
            out[key] = v
    return out


@dataclass
class RunInfo:
    """What a reader learnt about one run, with the source of each value."""

    name: str
    values: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    source_hash: str | None = None
    params_convention: str | None = None

    def set(self, key: str, value: Any, source: str, *, overwrite: bool | str = True) -> None:
        """Record a value and its source; ``overwrite="weak"`` replaces only guesses from the
        run name and derived values."""
        v = as_number(value)
        if v is None or v <= 0:
            return
        if key in self.values:
            if overwrite is False:
                return
            if overwrite == "weak" and not self.sources.get(key, "").startswith(
                    ("run name", "derived")):
                return
        self.values[key] = v
        self.sources[key] = source

    def from_name(self, text: str | None = None) -> None:
        """Sizes in a run name: ``190M-5xC`` (params, tokens = mult x 20 x N), ``nlayers12_nembd768``."""
        text = self.name if text is None else text
        lay, wid = LAYER_RE.search(text), WIDTH_RE.search(text)
        if lay and wid:
            L, d = int(lay.group(1)), int(wid.group(1))
            self.set("params", 12 * L * d * d, f"run name {text!r} (12*L*d^2, L={L}, d={d})",
                     overwrite=False)
            self.params_convention = self.params_convention or "non-embedding 12*L*d^2"
        else:
            m = SIZE_RE.search(text)
            if m:
                n = float(m.group(1)) * _UNITS[m.group(2).lower()]
                self.set("params", n, f"run name {text!r}", overwrite=False)
                self.params_convention = self.params_convention or "nominal size from run name"
        mult = MULT_RE.search(text)
        if mult and "params" in self.values:
            k = float(mult.group(1))
            self.set("tokens_total", k * 20 * self.values["params"],
                     f"derived: {mult.group(1)}xC x 20 x N (Chinchilla-optimal tokens) from run name",
                     overwrite=False)
            self.meta["chinchilla_multiplier"] = k

    def from_config(self, cfg: Mapping[str, Any], source: str, *,
                    overwrite: bool | str = True) -> None:
        flat = flatten_config(cfg)
        by_norm: dict[str, Any] = {}
        for k, v in flat.items():
            by_norm.setdefault(norm(k.rsplit(".", 1)[-1]), v)
        explicit = set()
        for fld, keys in CONFIG_KEYS.items():
            for k in keys:
                if k in by_norm and as_number(by_norm[k]) is not None:
                    self.set(fld, by_norm[k], f"{source}:{k}", overwrite=overwrite)
                    explicit.add(fld)
                    break
        L = next((as_number(by_norm[k]) for k in LAYER_KEYS if k in by_norm), None)
        d = next((as_number(by_norm[k]) for k in WIDTH_KEYS if k in by_norm), None)
        if L and d and "params" not in explicit:
            before = self.values.get("params")
            self.set("params", 12 * L * d * d, f"{source}: 12*L*d^2 (L={L:g}, d={d:g})",
                     overwrite=overwrite)
            if self.values.get("params") != before:
                self.params_convention = "non-embedding 12*L*d^2"
            self.meta.setdefault("n_layer", L)
            self.meta.setdefault("d_model", d)
        steps = next((as_number(by_norm[k]) for k in STEPS_KEYS if k in by_norm), None)
        if steps:
            self.meta.setdefault("total_steps", steps)

    def merge(self, other: RunInfo) -> None:
        """Fold in a later part of the same run (later non-missing values win)."""
        self.values.update(other.values)
        self.sources.update(other.sources)
        for k, v in other.meta.items():
            if k == "files":
                self.meta.setdefault("files", [])
                self.meta["files"] += [f for f in v if f not in self.meta["files"]]
            else:
                self.meta[k] = v
        self.tags.update(other.tags)
        if other.source and other.source not in self.source.split(";"):
            self.source = f"{self.source};{other.source}" if self.source else other.source
            self.source_hash = _combine_hash(self.source_hash, other.source_hash)
        self.params_convention = other.params_convention or self.params_convention

    def derive(self) -> None:
        v, s = self.values, self.sources
        if "tokens_total" not in v and "flops_total" in v and "params" in v:
            v["tokens_total"] = v["flops_total"] / (6 * v["params"])
            s["tokens_total"] = "derived: D = C/(6N)"
            self.meta["flops_convention"] = "C = 6*N*D"
        elif "flops_total" not in v and "tokens_total" in v and "params" in v:
            v["flops_total"] = 6 * v["params"] * v["tokens_total"]
            s["flops_total"] = "derived: C = 6*N*D"
            self.meta["flops_convention"] = "C = 6*N*D"

    def row(self) -> dict[str, Any]:
        meta = dict(self.meta)
        meta["sources"] = dict(self.sources)
        return {
            "run": self.name,
            **self.values,
            "params_convention": self.params_convention,
            "tags": json.dumps(self.tags, ensure_ascii=False, default=str) if self.tags else None,
            "meta": json.dumps(meta, ensure_ascii=False, default=str),
            "source": self.source or None,
            "source_hash": self.source_hash,
        }


def _combine_hash(a: str | None, b: str | None) -> str | None:
    if not a or not b:
        return a or b
    return hashlib.sha256(f"{a}{b}".encode()).hexdigest()


def file_hash(path: Path) -> str:
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


# ----------------------------------------------------------------------------- points
def strings(x, n: int) -> pd.api.extensions.ExtensionArray:
    """A pandas string array of length ``n`` from a scalar, a ``(codes, names)`` pair or values.

    The first two are built as Arrow arrays and wrapped without a copy: boxing one Python
    string per row, or casting a dictionary array and converting it again, costs more than
    reading the file did.
    """
    import pyarrow as pa

    if isinstance(x, str):
        # one name on every row: the offsets are a range and the characters one repeat
        b = x.encode()
        off = (np.arange(0, (n + 1) * len(b), len(b), dtype="int64") if b
               else np.zeros(n + 1, dtype="int64"))
        arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(off), pa.py_buffer(b * n))
        return pd.arrays.ArrowStringArray(arr)
    if isinstance(x, tuple):
        codes, names = x
        codes = np.asarray(codes, dtype="int32")
        if len(names) == 1:
            return strings(str(names[0]), n)
        starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        if len(starts) < min(n // 64, 4096):
            return _string_blocks(codes, starts, [str(v) for v in names], n)
        arr = pa.array([str(v) for v in names], pa.large_string()).take(pa.array(codes))
        return pd.arrays.ArrowStringArray(arr)
    return pd.array(np.asarray(x, dtype=object), dtype="string")


def _string_blocks(codes: np.ndarray, starts: np.ndarray, names: list[str], n: int):
    """:func:`strings` of codes that stay the same over long blocks (points sorted by run
    and metric): each block's offsets are a range and its characters one repeated name."""
    import pyarrow as pa

    lo = [0, *starts.tolist()]
    hi = [*lo[1:], n]
    enc = [s.encode() for s in names]
    off = np.empty(n + 1, dtype="int64")
    off[0] = 0
    pos = 0
    for a, b in zip(lo, hi, strict=True):
        size = len(enc[codes[a]])
        end = pos + (b - a) * size
        off[a + 1:b + 1] = np.arange(pos + size, end + 1, size, dtype="int64") if size else pos
        pos = end
    chars = np.empty(pos, dtype="uint8")
    for a, b in zip(lo, hi, strict=True):
        name = enc[codes[a]]
        if name:  # bytes repeat by doubling copies: faster than numpy's broadcast of a row
            chars[off[a]:off[b]] = np.frombuffer(name * (b - a), dtype="uint8")
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(off), pa.py_buffer(chars))
    return pd.arrays.ArrowStringArray(arr)


def points_frame(run, step, metric, value, tokens=None, flops=None, lr=None) -> pd.DataFrame:
    """A points frame in the store schema from arrays (scalars broadcast).

    ``run`` and ``metric`` may be a string, an array of strings, or ``(codes, names)``. The
    float arrays become the frame's columns as they are (no copy, no consolidation into one
    block), so a caller must not change them afterwards.
    """
    value = np.asarray(value, dtype="float64")
    n = len(value)
    taken: list[np.ndarray] = []

    def col(x):
        if x is None:
            return np.full(n, np.nan)
        a = np.asarray(x, dtype="float64")
        if a.ndim == 0:
            return np.broadcast_to(a, (n,)).copy()
        # each column its own writable array: a frame's column may be set in place
        if not a.flags.writeable or any(np.may_share_memory(a, b) for b in taken):
            a = a.copy()
        taken.append(a)
        return a

    st = np.asarray(step, dtype="float64")
    st = np.broadcast_to(st, (n,)) if st.ndim == 0 else st
    miss = np.isnan(st)
    if miss.any():
        step_arr = pd.arrays.IntegerArray(np.where(miss, 0, st).astype("int64"), miss)
    else:
        step_arr = pd.arrays.IntegerArray(st.astype("int64"), miss)
    value = col(value)
    return pd.DataFrame({
        "run": strings(run, n),
        "step": step_arr,
        "tokens": col(tokens),
        "flops": col(flops),
        "lr": col(lr),
        "metric": strings(metric, n),
        "value": value,
    }, copy=False)


@dataclass
class Chunk:
    """Points of one run as plain arrays; many chunks become one frame in a single step.

    Building a DataFrame (and its string columns) per file costs more than parsing a small
    file, so readers of wide tables hand back chunks and :func:`frame_from_chunks` joins them.
    """

    run: str
    step: np.ndarray
    metric_codes: np.ndarray
    metric_names: list[str]
    value: np.ndarray
    tokens: np.ndarray | None = None
    flops: np.ndarray | None = None
    lr: np.ndarray | None = None
    monotone: bool = False  # steps strictly increase within each metric, one block per metric
    ordered: bool = False  # metric codes never decrease and metric_names are sorted

    def __len__(self) -> int:
        return len(self.value)


def melt(run: str, step: np.ndarray, names: list[str], values: np.ndarray, present: np.ndarray,
         tokens: np.ndarray | None = None, flops: np.ndarray | None = None,
         lr: np.ndarray | None = None) -> Chunk:
    """Wide (rows x metrics) to long points, without Python loops over rows.

    ``present`` marks logged cells: an empty cell is "not logged at this step" and is dropped,
    while a logged NaN or inf stays (cleaning counts and drops it later).
    """
    return melt_t(run, step, names, values.T, present.T, tokens, flops, lr)


def melt_t(run: str, step: np.ndarray, names: list[str], values: np.ndarray,
           present: np.ndarray, tokens: np.ndarray | None = None,
           flops: np.ndarray | None = None, lr: np.ndarray | None = None) -> Chunk:
    """:func:`melt` of metric-major blocks (metrics x rows).

    Points come out metric by metric in name order and in row order within a metric: boolean
    indexing of the blocks (the row arrays broadcast to them) gives that order directly. A
    block with every cell logged is taken as it is (one metric: the columns themselves).
    """
    names = list(names)
    if names != sorted(names):
        order = sorted(range(len(names)), key=names.__getitem__)
        names = [names[j] for j in order]
        values, present = values[order], present[order]
    m, n = values.shape
    full = bool(present.all())
    counts = np.full(m, n) if full else present.sum(axis=1)
    codes = np.repeat(np.arange(m, dtype="int32"), counts)

    def spread(a):
        if a is None:
            return None
        if full:
            return a if m == 1 else np.tile(a, m)
        return np.broadcast_to(a, (m, n))[present]

    monotone = len(set(names)) == len(names) and bool(np.all(np.diff(step) > 0))
    vals = values.reshape(-1) if full else values[present]
    return Chunk(run, spread(step), codes, names, vals, spread(tokens),
                 spread(flops), spread(lr), monotone, ordered=True)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """``parts`` end to end: the span of their parent array where they are adjacent slices of
    it (the runs of a long table), else one copy."""
    if len(parts) == 1:
        return parts[0]
    base = parts[0].base
    if (isinstance(base, np.ndarray) and base.ndim == 1 and base.flags.c_contiguous
            and all(p.base is base and p.dtype == base.dtype and p.flags.c_contiguous
                    for p in parts)):
        size = base.itemsize
        start = (parts[0].ctypes.data - base.ctypes.data) // size
        pos = start
        for p in parts:
            if (p.ctypes.data - base.ctypes.data) // size != pos:
                break
            pos += len(p)
        else:
            return base[start:pos]
    return np.concatenate(parts)


def frame_from_chunks(chunks: list[Chunk]) -> pd.DataFrame:
    """One points frame from many chunks: arrays joined once, strings built once.

    Rows come out sorted by (run, metric) name and, for monotone chunks, by step: the store's
    own order, so that merging them into a store moves no strings around.
    """
    chunks = sorted((c for c in chunks if len(c)), key=lambda c: c.run)  # stable: parts keep order
    if not chunks:
        return points_frame("", [], "", [])
    metric_names = sorted({m for c in chunks for m in c.metric_names})
    metric_ids = {m: i for i, m in enumerate(metric_names)}
    run_names = sorted({c.run for c in chunks})
    run_ids = {r: i for i, r in enumerate(run_names)}
    lens = np.array([len(c) for c in chunks])
    orders, codes = [], []
    for c in chunks:
        if c.ordered and c.metric_names == metric_names:
            orders.append(None)  # codes already index metric_names, in order
            codes.append(c.metric_codes)
            continue
        remap = np.array([metric_ids[m] for m in c.metric_names], dtype="int32")
        cc = remap[c.metric_codes]
        # a sorted remap keeps an ordered chunk in metric name order
        order = None if c.ordered else np.argsort(cc, kind="stable")
        orders.append(order)
        codes.append(cc if order is None else cc[order])

    def column(k):
        parts = [getattr(c, k) for c in chunks]
        if all(a is None for a in parts):
            return None
        parts = [np.full(len(c), np.nan) if a is None else a if o is None else a[o]
                 for c, a, o in zip(chunks, parts, orders, strict=True)]
        return _joined(parts)

    metric = _joined(codes)
    if len(run_names) == 1:
        run = run_names[0]
    else:
        run = (np.repeat(np.array([run_ids[c.run] for c in chunks], dtype="int32"), lens),
               run_names)
    return points_frame(run, column("step"), (metric, metric_names), column("value"),
                        column("tokens"), column("flops"), column("lr"))


#: largest step accepted: integers above 2^53 are not exact in float64
MAX_STEP = 2.0**53


def check_steps(step: np.ndarray, where: str, col: str, *, integral: bool = False) -> np.ndarray:
    """Steps as float (NaN = missing); non-integer or infinite steps are an error.

    ``integral``: the column was parsed as integers, so only the range needs a look.
    """
    if len(step):  # the common case in two passes: every step a finite integer in range
        lo, hi = float(step.min()), float(step.max())  # NaN if any step is
        if (math.isfinite(lo) and math.isfinite(hi) and max(-lo, hi) <= MAX_STEP
                and (integral or np.array_equal(step, np.round(step)))):
            return step
    fin = np.isfinite(step)
    if np.any(np.isinf(step)):
        raise InputError(f"column {col!r} holds an infinite step", where=where)
    huge = fin & (np.abs(step) > MAX_STEP)
    if huge.any():  # beyond 2^53 a float step is no longer an exact integer (and int64 overflows)
        i = int(np.argmax(huge))
        raise InputError(f"column {col!r} holds a step {step[i]:.4g} (row {i + 1}) larger than "
                         "any step count", where=where,
                         hint="is it a tokens or time column? name the step column with --step-col")
    bad = fin & (step != np.round(step))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"column {col!r} holds a non-integer step {step[i]!r} (row {i + 1})",
                         where=where, hint="name the step column with --step-col")
    return step


def descending(step: np.ndarray) -> bool:
    """Steps that strictly decrease from the first row to the last (three or more): a table
    sorted newest first. One step back in an increasing log is a restart instead."""
    if len(step) and step[0] <= step[-1]:  # cannot decrease (a NaN end takes the full check)
        return False
    st = step[np.isfinite(step)]
    return len(st) >= 3 and bool(np.all(np.diff(st) < 0))



# ----------------------------------------------------------------------------- restarts
def resolve_restarts(points: pd.DataFrame, infos: dict[str, RunInfo],
                     notes: list[str]) -> pd.DataFrame:
    """Apply "the later row wins" per (run, metric), in log order.

    A step logged again (a duplicate) replaces the earlier value; a step that goes back
    (a restart from a checkpoint) replaces every earlier point at or after that step, since
    those belong to the abandoned part of the run. Counts go into the run's meta and notes.
    """
    if len(points) < 2:
        return points
    codes = points.groupby(["run", "metric"], sort=False, dropna=False).ngroup().to_numpy()
    step = points["step"].to_numpy(dtype="float64", na_value=-np.inf)
    order = np.argsort(codes, kind="stable")
    c, s = codes[order], step[order]
    same = c[1:] == c[:-1]
    if not np.any(same & (s[1:] <= s[:-1])):
        return points
    keep_sorted = superseded_mask(c, s)
    back = same & (s[1:] < s[:-1])
    dup = same & (s[1:] == s[:-1])
    drop = order[~keep_sorted]
    runs_col = points["run"].to_numpy(dtype=object)
    for name in pd.unique(runs_col[drop]):
        sel = runs_col[order[1:]] == name
        n_back = int(np.sum(back & sel))
        n_drop = int(np.sum(runs_col[drop] == name))
        info = infos.get(name)
        if info is not None:
            info.meta["restarts"] = info.meta.get("restarts", 0) + n_back
            info.meta["superseded_points"] = info.meta.get("superseded_points", 0) + n_drop
            info.meta["duplicate_steps"] = info.meta.get("duplicate_steps", 0) + int(
                np.sum(dup & sel))
        what = f"{n_back} restart(s) (step went back)" if n_back else "duplicate steps"
        notes.append(f"run {name!r}: {what}; {n_drop} earlier point(s) replaced by later ones")
    keep = np.ones(len(points), bool)
    keep[drop] = False
    return points[keep].reset_index(drop=True)


def superseded_mask(codes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """For rows grouped by ``codes`` (contiguous, in log order): True where no later row of the
    same group has a step at or below this row's step."""
    n = len(steps)
    rev_c, rev_s = codes[::-1], steps[::-1]
    # suffix minimum of later rows within each group: cummin over the reversed order, shifted
    cm = pd.Series(rev_s).groupby(rev_c).cummin().to_numpy()
    later = np.full(n, np.inf)
    later[1:] = cm[:-1]
    later[1:][rev_c[1:] != rev_c[:-1]] = np.inf
    later = later[::-1]
    return ~(later <= steps)


# ----------------------------------------------------------------------------- options
@dataclass
class Options:
    """Reader options; every reader ignores the ones that do not concern it."""

    run: str | None = None
    params: float | None = None
    tokens: float | None = None
    flops: float | None = None
    step_col: str | None = None
    loss_col: str | None = None
    tokens_col: str | None = None
    lr_col: str | None = None
    flops_col: str | None = None
    params_col: str | None = None
    run_col: str | None = None
    metric_col: str | None = None
    value_col: str | None = None
    metrics: list[str] | None = None
    regex: str | None = None
    preset: str | None = None
    delimiter: str | None = None


@dataclass
class Parsed:
    """A reader's result before the runs table is assembled."""

    infos: list[RunInfo]
    points: list[pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    digest: Future | None = None  # the file's hash, under way (see hash_soon)

    def extend(self, other: Parsed) -> None:
        """Append another result (a reader that reads several runs or files)."""
        self.infos += other.infos
        self.points += other.points
        self.notes += other.notes


# ----------------------------------------------------------------------------- tables
class Table:
    """A parsed table: its columns by name, as arrays, with the few accessors the readers use.

    Built from a DataFrame or straight from the parser's column arrays; ``column`` wraps one
    array in a Series only when a reader asks for it, since building a DataFrame of a wide log
    (hundreds of metric columns) costs more than parsing it. Text columns from the Arrow parser
    stay Arrow arrays until asked for (``arrow`` hands them over as they are).
    """

    def __init__(self, df: pd.DataFrame | None = None, *,
                 columns: Mapping[str, Any] | None = None, num_rows: int | None = None):
        if df is not None:
            self.column_names = [str(c) for c in df.columns]
            self._cols: dict[str, Any] = {c: df.iloc[:, j]
                                          for j, c in enumerate(self.column_names)}
            self.num_rows = len(df)
        else:
            self._cols = {str(c): a for c, a in (columns or {}).items()}
            self.column_names = list(self._cols)
            self.num_rows = num_rows if num_rows is not None else (
                len(next(iter(self._cols.values()))) if self._cols else 0)
        self._df = df
        self.notes: list[str] = []
        self.digest: Future | None = None

    @property
    def df(self) -> pd.DataFrame:
        if self._df is None or list(self._df.columns) != self.column_names:
            self._df = pd.DataFrame({c: self.column(c) for c in self.column_names})
        return self._df

    def array(self, name: str):
        """The column as stored: a numpy array or a Series."""
        a = self._cols[name]
        return self.column(name) if _is_arrow(a) else a

    def arrow(self, name: str):
        """The column as the Arrow parser left it (text columns), or None."""
        a = self._cols[name]
        return a if _is_arrow(a) else None

    def column(self, name: str) -> pd.Series:
        a = self._cols[name]
        if _is_arrow(a):
            a = self._cols[name] = pd.Series(pd.array(a, dtype=pd.StringDtype("pyarrow")),
                                             name=name)
        return a if isinstance(a, pd.Series) else pd.Series(a, name=name, copy=False)


def _is_arrow(a) -> bool:
    return type(a).__module__.startswith("pyarrow")


_CSV_KW = dict(engine="c", na_values=[""], keep_default_na=False, encoding="utf-8",
               encoding_errors="strict", low_memory=False)


#: files smaller than this go straight to pandas' C parser, which reads a small file (a few
#: thousand rows, a hundred columns) faster than pyarrow's threads do
ARROW_MIN_BYTES = 1 << 20


def _parse_csv(path: Path, delimiter: str) -> tuple[dict[str, Any], int]:
    """Column arrays of a CSV: by pyarrow where it reads the file, else pandas' C parser."""
    try:
        small = path.stat().st_size < ARROW_MIN_BYTES
    except OSError:
        small = False
    res = None if small else _parse_csv_arrow(path, delimiter)
    return res if res is not None else _parse_csv_pandas(path, delimiter)


_ARROW_BOOL = (["true", "True", "TRUE"], ["false", "False", "FALSE"])


def _parse_csv_arrow(path: Path, delimiter: str) -> tuple[dict[str, Any], int] | None:
    """Column arrays by pyarrow's multi-threaded CSV reader, or None to take pandas' path.

    Big logs are read several times faster, with less memory. Only an empty cell is missing
    and 0/1 stay numbers, as in the pandas path. Anything pyarrow does not read as the pandas
    path would (ragged or broken rows, repeated column names, bad UTF-8 in a text column, an
    empty file) goes to the pandas path, which reads it or gives its usual error.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    try:
        table = pacsv.read_csv(
            path, parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
                true_values=_ARROW_BOOL[0], false_values=_ARROW_BOOL[1]))
    except (pa.ArrowException, OSError, ValueError):
        return None
    names = [str(c) for c in table.column_names]
    if len(set(names)) != len(names) or not names:
        return None
    n = table.num_rows
    big = table.nbytes >= 16 << 20
    columns = table.columns
    del table  # each column's buffers go as soon as its numpy copy is made
    cols: dict[str, Any] = {}
    for name in names:
        col = columns.pop(0)
        t = col.type
        if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_null(t):
            nulls = col.null_count
            if not ((pa.types.is_integer(t) and nulls == 0) or t == pa.float64()):
                col = col.cast(pa.float64())
            a = col.to_numpy()  # an empty float cell is NaN
            if a.dtype.kind == "f" and int(np.count_nonzero(np.isnan(a))) != nulls:
                return None  # a logged nan is a value, not a gap: NaN-filled nulls merge them
            # one block is handed over without a copy, read-only: points are set in place
            cols[name] = a if a.flags.writeable else a.copy()
        elif pa.types.is_boolean(t) and col.null_count == 0:
            cols[name] = col.to_numpy()
        else:  # text (and dates, times): strings as a CSV cell holds them
            if not pa.types.is_string(t) and not pa.types.is_large_string(t):
                if pa.types.is_boolean(t):
                    return None  # true/false with gaps: let pandas type it
                col = col.cast(pa.string())
            cols[name] = col  # a Series when a reader asks (Table.column)
    if big:  # the parser's blocks are freed now; Arrow's pool would keep their pages, and
        # the points built next would come on top of them (a small table is not worth it)
        pa.default_memory_pool().release_unused()
    return cols, n


def _parse_csv_pandas(path: Path, delimiter: str) -> tuple[dict[str, Any], int]:
    """Column arrays of a CSV by pandas' C parser.

    The parser's own column arrays are taken where pandas exposes them (``TextFileReader``'s
    engine): for a log of a few thousand rows and a hundred columns, assembling the DataFrame
    costs as much as the parsing, and the readers only need the arrays. Otherwise (another
    pandas), ``read_csv``'s DataFrame is taken apart; both parse alike and fail alike.
    """
    with pd.read_csv(path, sep=delimiter, iterator=True, **_CSV_KW) as reader:
        read = getattr(getattr(reader, "_engine", None), "read", None)
        if read is not None and getattr(reader, "engine", None) == "c":
            res = read(None)
            if (isinstance(res, tuple) and len(res) == 3 and res[0] is None
                    and isinstance(res[2], dict) and list(res[2]) == list(res[1])):
                cols = {str(c): a for c, a in res[2].items()}
                return cols, len(next(iter(cols.values()))) if cols else 0
    return _parse_csv_dataframe(path, delimiter)


def _parse_csv_dataframe(path: Path, delimiter: str):
    """The public-API path of ``_parse_csv``: ``read_csv``'s DataFrame taken apart."""
    df = pd.read_csv(path, sep=delimiter, **_CSV_KW)
    return {str(c): df.iloc[:, j] for j, c in enumerate(df.columns)}, len(df)


def read_csv_table(path: Path, delimiter: str | None = None, *, digest: bool = False) -> Table:
    """Parse a CSV/TSV with pandas' C parser; every failure is an InputError.

    Only an empty cell is missing: a literal ``nan`` or ``inf`` stays a logged value.
    ``digest``: start hashing the file (``Table.digest``, see :func:`hash_soon`) once parsed.
    """
    where = str(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else sniff_delimiter(path)
    try:
        cols, n = _parse_csv(path, delimiter)
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty", where=where) from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1].replace("Error tokenizing data. C error: ", "")
        raise InputError(f"cannot parse as CSV: {msg} (a corrupt or ragged file?)",
                         where=where) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", where=where) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read: {exc}", where=where) from None
    tbl = Table(columns=cols, num_rows=n)
    if digest:
        tbl.digest = hash_soon(path)
    if _check_last_line(path, len(cols), delimiter):
        tbl.notes.append(f"{path.name}: the last line has no line end; if the file was cut, "
                         "its last value may be partial")
    return tbl


def _check_last_line(path: Path, n_cols: int, delimiter: str) -> bool:
    """A file cut in the middle of its last row (fewer fields, no line end) is an error.

    Returns True when the last line is complete but has no line end (hand-written files often
    lack it; a cut file may too).
    """
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return False
    last = tail.rsplit(b"\n", 1)[-1]
    if n_cols < 2:
        return True
    if b'"' not in last and last.count(delimiter.encode()) + 1 < n_cols:
        raise InputError(f"the last line has {last.count(delimiter.encode()) + 1} of {n_cols} "
                         "fields and no line end: the file is truncated", where=str(path),
                         hint="re-export it or remove the partial last line")
    return True


def sniff_delimiter(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.readline(65536)
    return "\t" if head.count(b"\t") > head.count(b",") else ","


_LITERAL_NAN = {"nan", "-nan", "+nan", "none", "null", "na", "n/a"}


def numeric_column(col: pd.Series | np.ndarray, name: str,
                   where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(values as float64 with NaN where empty, present mask) or None for a text column.

    A text column with some numbers and some words is an error: a number was expected. A
    parsed float64 array comes back as it is (no copy): a million-row column is handed on.
    """
    kind = col.dtype.kind
    if kind == "b":
        return None  # true/false: a flag, not a number
    if kind in "fiu" and isinstance(col, np.ndarray):  # plain numpy: no NA to fill
        vals = col if col.dtype == np.float64 else col.astype("float64")
        return vals, ~np.isnan(vals) if kind == "f" else np.ones(len(vals), bool)
    if not isinstance(col, pd.Series):
        col = pd.Series(col, copy=False)
    if kind in "fiu":
        vals = col.to_numpy(dtype="float64", na_value=np.nan)
        return vals, ~np.isnan(vals) if kind == "f" else col.notna().to_numpy(dtype=bool)
    present = col.notna().to_numpy(dtype=bool)
    if not present.any():
        return np.full(len(col), np.nan), present
    s = col.astype(object)
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    unparsed = present & np.isnan(num)
    if unparsed.any():
        txt = s[unparsed].astype(str).str.strip().str.lower()
        lit = txt.isin(_LITERAL_NAN).to_numpy(dtype=bool)
        bad_idx = np.flatnonzero(unparsed)[~lit]
    else:
        bad_idx = np.array([], int)
    if len(bad_idx) == 0:
        return num, present
    if len(bad_idx) == int(present.sum()):
        return None  # a text column (names, phases): not a metric
    i = int(bad_idx[0])
    raise InputError(f"column {name!r} holds a non-numeric value {s.iloc[i]!r} at data row {i + 1}",
                     where=where, hint="fix or remove that row")


def records_table(records: list[dict[str, Any]], where: str) -> Table:
    """A table from logged records (dicts); nested dicts become ``a/b`` columns.

    Missing keys are empty cells; a logged NaN/inf is kept as the text ``nan``/``inf`` so that
    it stays a logged value, and text mixed with numbers is reported by the usual checks. A JSON
    string is text as a CSV cell is (``"2.8"`` reads as 2.8), and a boolean is the word
    ``true``/``false``: never a number.
    """
    flat = [_flatten_record(r) for r in records]
    keys: dict[str, None] = {}
    for r in flat:
        keys.update(dict.fromkeys(r))
    if not keys:
        raise InputError("no values in the records", where=where)
    # plain arrays, no Series per key: a record can hold 10^5 keys, and pandas' per-column
    # overhead, not the values, then decides the time
    cols: dict[str, np.ndarray] = {}
    plain = {int, float, type(None)}
    by_key = {k: [r.get(k) for r in flat] for k in keys}
    numeric = [k for k, vals in by_key.items() if plain.issuperset(map(type, vals))]
    try:  # all numeric keys in one array; None becomes NaN (missing)
        block = np.array([by_key[k] for k in numeric], dtype="float64").reshape(
            len(numeric), len(flat))
    except OverflowError:  # an integer beyond float range: key by key below
        block, numeric = None, []
    odd = set() if block is None else {numeric[i] for i in np.flatnonzero(
        (~np.isfinite(block)).any(axis=1))}
    for i, k in enumerate(numeric):
        if k not in odd or all(v is None or math.isfinite(v) for v in by_key[k]):
            cols[k] = block[i]
    for k, vals in by_key.items():
        if k in cols:
            continue
        # booleans become the words a CSV would hold: a flag column is text, and a
        # boolean among numbers is refused as a non-numeric value, as in a CSV
        cols[k] = np.array([None if v is None or isinstance(v, (dict, list))
                            else ("true" if v else "false") if isinstance(v, bool)
                            else (repr(v) if isinstance(v, float) else v) for v in vals],
                           dtype=object)
    return Table(columns={k: cols[k] for k in keys}, num_rows=len(flat))


def _flatten_record(r: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in r.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten_record(v, key + "/"))
        else:
            out[key] = v
    return out
