"""Learning-rate schedules as per-step arrays.

One module serves the trainer (which asks for the LR of each optimizer step) and the
schedule-aware loss-curve laws (which need the LR at *every* step, not only at logged steps).

Conventions
-----------
- Step ``s = 0`` is the first optimizer step; ``Schedule.lr(s)`` is the LR used at step ``s``.
- Linear warmup goes from ``init`` (default 0) to ``peak`` over ``warmup`` steps:
  ``lr(s) = init + (peak - init) * s / warmup`` for ``s < warmup`` and ``lr(warmup) = peak``.
  This is the convention of the multi-power-law curves (warmup 2,160 steps from 0 to 3e-4).
- After warmup the family's shape runs from ``warmup`` to ``steps`` (the total number of
  steps); past ``steps`` the LR stays at its last value.

Spec strings: ``"family:key=value,key=value"``, lists separated by ``;``, e.g.
``"wsd:peak=3e-4,warmup=2160,steps=24000,decay=0.2,final=3e-5,shape=linear"``.
The dict form is ``{"family": ..., key: value, ...}``; both round-trip through
:func:`parse_schedule`, :meth:`Schedule.to_spec` and :meth:`Schedule.to_dict`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import InputError, UsageError

__all__ = [
    "FAMILIES",
    "Schedule",
    "array_schedule",
    "from_logged",
    "parse_schedule",
]

SHAPES = ("linear", "cosine", "1-sqrt", "exp", "step")


# ---------------------------------------------------------------- shapes of a decay
def _decay(u: np.ndarray, start: float, end: float, shape: str) -> np.ndarray:
    """LR at progress ``u`` in [0, 1] of a decay from ``start`` to ``end``."""
    u = np.clip(u, 0.0, 1.0)
    if shape == "linear":
        return start + (end - start) * u
    if shape == "cosine":
        return end + (start - end) * 0.5 * (1.0 + np.cos(np.pi * u))
    if shape == "1-sqrt":
        return end + (start - end) * (1.0 - np.sqrt(u))
    if shape in ("exp", "exponential"):
        if start <= 0 or end <= 0:
            raise UsageError("an exponential decay needs positive start and final LRs",
                             where="schedule", hint="set final > 0 or use shape=linear")
        return start * (end / start) ** u
    if shape == "step":
        return np.where(u > 0, end, start)
    raise UsageError(f"unknown decay shape {shape!r}", where="schedule",
                     hint=f"use one of {', '.join(SHAPES)}")


# ---------------------------------------------------------------- families
# Each family maps (post-warmup steps as float array, options) -> LR. ``s`` is the absolute step.

def _constant(s, o):
    return np.full(s.shape, o["peak"], dtype=float)


def _cosine(s, o):
    span = max(o["steps"] - o["warmup"], 1)
    return _decay((s - o["warmup"]) / span, o["peak"], o["final"], "cosine")


def _linear(s, o):
    span = max(o["steps"] - o["warmup"], 1)
    return _decay((s - o["warmup"]) / span, o["peak"], o["final"], "linear")


def _decay_len(o, total: float) -> float:
    d = float(o["decay"])
    return d * total if d <= 1.0 else d  # a fraction of the steps, or a number of steps


def _wsd(s, o):
    n_dec = _decay_len(o, o["steps"])
    start = o["steps"] - n_dec
    u = (s - start) / max(n_dec, 1e-12)
    lr = _decay(u, o["peak"], o["final"], o["shape"])
    return np.where(s < start, o["peak"], lr)


def _wsds(s, o):
    # several cooldowns: before each checkpoint c_i the LR decays over a fraction of the
    # segment (c_(i-1), c_i], then training resumes at the peak (Wen et al. 2024, WSD-S)
    lr = np.full(s.shape, o["peak"], dtype=float)
    prev = float(o["warmup"])
    for c in o["cooldowns"]:
        c = float(c)
        n_dec = _decay_len(o, c - prev)
        start = c - n_dec
        m = (s >= start) & (s < c)
        lr[m] = _decay((s[m] - start) / max(n_dec, 1e-12), o["peak"], o["final"], o["shape"])
        prev = c
    last = float(o["cooldowns"][-1]) if len(o["cooldowns"]) else prev
    if last >= o["steps"]:
        lr[s >= last] = o["final"]
    return lr


def _step(s, o):
    k = np.floor(np.maximum(s - o["warmup"], 0) / o["every"])
    return o["peak"] * o["gamma"] ** k


def _multistep(s, o):
    k = np.searchsorted(np.asarray(o["milestones"], dtype=float), s, side="right")
    return o["peak"] * o["gamma"] ** k


def _invsqrt(s, o):
    ts = float(o["timescale"]) if o["timescale"] else max(float(o["warmup"]), 1.0)
    return o["peak"] * np.sqrt(ts / np.maximum(s - o["warmup"] + ts, ts))


@dataclass(frozen=True)
class _Family:
    fn: Callable
    options: dict  # option -> default (None: required)
    doc: str


_COMMON = {"peak": None, "warmup": 0, "steps": None, "init": 0.0}
FAMILIES: dict[str, _Family] = {
    "constant": _Family(_constant, {}, "constant LR after warmup"),
    "cosine": _Family(_cosine, {"final": 0.0}, "cosine from peak to final over the steps"),
    "linear": _Family(_linear, {"final": 0.0}, "linear from peak to final over the steps"),
    "wsd": _Family(_wsd, {"decay": 0.2, "final": 0.0, "shape": "linear"},
                   "warmup-stable-decay: decay over the last `decay` of the steps "
                   "(a fraction <= 1, or a number of steps)"),
    "wsds": _Family(_wsds, {"cooldowns": None, "decay": 0.1, "final": 0.0, "shape": "linear"},
                    "WSD-S: a cooldown before each step in `cooldowns`, back to peak after"),
    "step": _Family(_step, {"every": None, "gamma": 0.1}, "multiply by gamma every `every` steps"),
    "multistep": _Family(_multistep, {"milestones": None, "gamma": 0.1},
                         "multiply by gamma at each milestone step"),
    "invsqrt": _Family(_invsqrt, {"timescale": 0},
                       "inverse square root: peak * sqrt(ts / (s - warmup + ts))"),
    "array": _Family(None, {"values": None}, "explicit per-step LRs (run-length encoded)"),
    "interp": _Family(None, {"at": None, "values": None},
                      "piecewise linear through (step, lr) knots, e.g. a logged lr column"),
}
_LIST_OPTS = {"cooldowns", "milestones", "at", "values"}
_INT_OPTS = {"warmup", "steps", "every"}
_STR_OPTS = {"shape"}


@dataclass(frozen=True, eq=False)
class Schedule:
    """A learning-rate schedule: a family and its options. ``lr(steps)`` gives per-step LRs."""

    family: str
    options: Mapping[str, Any] = field(default_factory=dict)

    # --------------------------------------------------------------- properties
    @property
    def total_steps(self) -> int:
        """Total number of optimizer steps (the ``steps`` option)."""
        return int(self.options["steps"])

    @property
    def peak(self) -> float:
        """Peak LR: the ``peak`` option, else the largest LR over the schedule."""
        return float(self.options.get("peak", np.max(self.lr(np.arange(self.total_steps)))))

    @property
    def warmup(self) -> int:
        """Number of linear-warmup steps (0 without warmup)."""
        return int(self.options.get("warmup", 0))

    # --------------------------------------------------------------- evaluation
    def lr(self, steps: int | Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """LR at integer step indices (default: every step ``0 .. total_steps - 1``)."""
        if steps is None:
            steps = np.arange(self.total_steps)
        s = np.asarray(steps, dtype=float)
        scalar = s.ndim == 0
        s = np.atleast_1d(s)
        o = self.options
        if self.family == "array":
            vals = _rle_decode(o["values"])
            idx = np.clip(s.astype(np.int64), 0, len(vals) - 1)
            out = vals[idx]
        elif self.family == "interp":
            out = np.interp(s, np.asarray(o["at"], float), np.asarray(o["values"], float))
        else:
            out = FAMILIES[self.family].fn(s, o).astype(float)
            w = float(o.get("warmup", 0))
            if w > 0:
                init = float(o.get("init", 0.0))
                m = s < w
                out = np.where(m, init + (o["peak"] - init) * s / w, out)
        return float(out[0]) if scalar else out

    def __call__(self, steps=None):
        return self.lr(steps)

    # --------------------------------------------------------------- serialisation
    def to_dict(self) -> dict:
        """The dict form, ``{"family": ..., option: value}`` (sequences as lists), which
        :func:`parse_schedule` reads."""
        d: dict[str, Any] = {"family": self.family}
        for k, v in self.options.items():
            d[k] = list(v) if isinstance(v, (tuple, list, np.ndarray)) else v
        return d

    def to_json(self) -> str:
        """The dict form as JSON text."""
        return json.dumps(self.to_dict())

    def to_spec(self) -> str:
        """The spec string, ``"family:key=value,..."`` (lists joined by ``;``), which
        :func:`parse_schedule` reads."""
        parts = []
        for k, v in self.options.items():
            if k in _LIST_OPTS:
                parts.append(f"{k}=" + ";".join(_fmt(x) for x in v))
            else:
                parts.append(f"{k}={_fmt(v)}")
        return f"{self.family}:" + ",".join(parts)

    def __eq__(self, other) -> bool:
        return isinstance(other, Schedule) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        spec = self.to_spec()
        return f"Schedule({spec[:120]}{'...' if len(spec) > 120 else ''})"


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer()
                                            and abs(v) < 1e15 and abs(v) >= 1):
        return str(int(v))
    return repr(float(v))


# ---------------------------------------------------------------- run-length encoding
def _rle_encode(values: np.ndarray) -> list:
    """[v, n, v, n, ...] pairs: value and how many consecutive steps it holds."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return []
    starts = np.r_[0, np.flatnonzero(np.diff(v) != 0) + 1]
    counts = np.diff(np.r_[starts, v.size])
    out: list = []
    for a, n in zip(v[starts], counts, strict=True):
        out += [float(a), int(n)]
    return out


def _rle_decode(pairs) -> np.ndarray:
    p = list(pairs)
    if len(p) % 2:
        raise UsageError("array schedule values must be value;count pairs", where="schedule")
    vals = np.asarray(p[0::2], dtype=float)
    counts = np.asarray(p[1::2], dtype=float).astype(np.int64)
    return np.repeat(vals, counts)


# ---------------------------------------------------------------- constructors
def array_schedule(lrs: Sequence[float] | np.ndarray) -> Schedule:
    """A schedule from explicit per-step LRs (stored run-length encoded)."""
    a = np.asarray(lrs, dtype=float)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise UsageError("an array schedule needs a non-empty 1-D array of finite LRs >= 0",
                         where="schedule")
    return Schedule("array", {"steps": int(a.size), "values": _rle_encode(a)})


def parse_schedule(spec: str | Mapping | Schedule) -> Schedule:
    """Build a :class:`Schedule` from a spec string, a dict (or JSON text) or a Schedule."""
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{"):
            try:
                spec = json.loads(text)
            except json.JSONDecodeError as exc:
                raise UsageError(f"schedule JSON does not parse: {exc}", where="schedule") from None
        else:
            fam, _, rest = text.partition(":")
            d: dict[str, Any] = {"family": fam.strip()}
            for item in filter(None, (x.strip() for x in rest.split(","))):
                k, sep, v = item.partition("=")
                if not sep:
                    raise UsageError(f"schedule option {item!r} must look like key=value",
                                     where="schedule", hint=f"e.g. {_EXAMPLE}")
                k = k.strip()
                d[k] = [_num(x) for x in v.split(";") if x.strip()] if k in _LIST_OPTS \
                    else v.strip()
            spec = d
    if not isinstance(spec, Mapping):
        raise UsageError(f"cannot read a schedule from {type(spec).__name__}", where="schedule")
    d = dict(spec)
    fam = str(d.pop("family", d.pop("kind", "")))
    if fam in ("wsd-s", "wsd_s"):
        fam = "wsds"
    if fam in ("inverse_sqrt", "rsqrt"):
        fam = "invsqrt"
    if fam not in FAMILIES:
        raise UsageError(f"unknown schedule family {fam!r}", where="schedule",
                         hint=f"use one of {', '.join(FAMILIES)}; e.g. {_EXAMPLE}")
    fdef = FAMILIES[fam]
    if fam in ("array", "interp"):
        allowed = {"steps": None, **fdef.options}
    else:
        allowed = {**_COMMON, **fdef.options}
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise UsageError(f"schedule family {fam!r} has no option(s) {unknown}",
                         where="schedule", hint=f"its options: {', '.join(allowed)}")
    opts: dict[str, Any] = {}
    for k, default in allowed.items():
        if k in d:
            v = d[k]
        elif default is None:
            if k == "steps" and fam == "array":
                continue
            if k == "steps" and fam == "interp":
                continue
            raise UsageError(f"schedule family {fam!r} needs option {k!r}", where="schedule",
                             hint=f"e.g. {_EXAMPLE}")
        else:
            v = default
        opts[k] = _coerce(k, v)
    if fam == "array":
        opts.setdefault("steps", int(_rle_decode(opts["values"]).size))
        opts = {"steps": opts["steps"], "values": opts["values"]}
    if fam == "interp":
        at = np.asarray(opts["at"], float)
        if at.size != len(opts["values"]) or at.size == 0 or np.any(np.diff(at) <= 0):
            raise UsageError("interp schedule needs increasing `at` steps, one per value",
                             where="schedule")
        opts.setdefault("steps", int(at[-1]) + 1)
        opts = {"steps": opts["steps"], "at": opts["at"], "values": opts["values"]}
    _check(fam, opts)
    return Schedule(fam, opts)


_EXAMPLE = "wsd:peak=3e-4,warmup=2160,steps=24000,decay=0.2,final=3e-5,shape=linear"


def _num(x):
    x = str(x).strip()
    try:
        f = float(x)
    except ValueError:
        raise UsageError(f"schedule value {x!r} is not a number", where="schedule") from None
    return int(f) if f.is_integer() and "." not in x and "e" not in x.lower() else f


def _coerce(k: str, v):
    if k in _LIST_OPTS:
        if isinstance(v, str):
            v = [_num(x) for x in v.split(";") if x.strip()]
        return [(_num(x) if isinstance(x, str) else x) for x in list(v)]
    if k in _STR_OPTS:
        return str(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise UsageError(f"schedule option {k}={v!r} is not a number", where="schedule") from None
    if k in _INT_OPTS:
        if not f.is_integer():
            raise UsageError(f"schedule option {k}={v!r} must be a whole number of steps",
                             where="schedule")
        return int(f)
    return f


def _check(fam: str, o: dict) -> None:
    def bad(msg):
        raise UsageError(msg, where="schedule", hint=f"e.g. {_EXAMPLE}")

    if o.get("steps") is not None and o["steps"] <= 0:
        bad("steps must be positive")
    if "peak" in o and not (o["peak"] > 0 and math.isfinite(o["peak"])):
        bad("peak LR must be a positive number")
    if o.get("warmup", 0) < 0:
        bad("warmup must be >= 0")
    if "final" in o and o["final"] < 0:
        bad("final LR must be >= 0")
    if "shape" in o and o["shape"] not in SHAPES + ("exponential",):
        bad(f"unknown decay shape {o['shape']!r}; use one of {', '.join(SHAPES)}")
    if fam == "wsd" and not (0 <= o["decay"] <= o["steps"] - o["warmup"]):
        bad("wsd decay must be a fraction in [0, 1] or a number of steps after warmup")
    if fam == "step" and o["every"] <= 0:
        bad("step schedule needs every > 0")


# ---------------------------------------------------------------- from a logged lr column
def from_logged(steps: Sequence[int] | np.ndarray, lr: Sequence[float] | np.ndarray, *,
                total_steps: int | None = None, warmup: int | None = None,
                init: float = 0.0, recognise: bool = True, rtol: float = 1e-6,
                where: str | None = None) -> Schedule:
    """Per-step schedule from an ``lr`` column logged at some steps (e.g. every 50 or 128).

    With ``recognise=True`` the common families (constant, cosine, linear, WSD with each decay
    shape, a single step drop) are tried first; a family is accepted when it reproduces every
    logged LR to ``rtol``. Otherwise the LR is interpolated linearly between logged steps, held
    constant between logged values that are equal, and, when the first logged step is after 0,
    preceded by a linear warmup from ``init`` reaching the first logged LR at ``warmup`` (the
    first logged step by default). A change between two logged steps that are more than one
    step apart is placed as the data show: a jump (both neighbours flat) becomes a step drop
    at the later logged step.
    """
    s = np.asarray(steps, dtype=float)
    y = np.asarray(lr, dtype=float)
    ok = np.isfinite(s) & np.isfinite(y)
    s, y = s[ok], y[ok]
    if s.size == 0:
        raise InputError("no finite lr values to build a schedule from", where=where,
                         hint="the curve needs an `lr` column, or pass a schedule spec")
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    keep = np.r_[True, np.diff(s) > 0]
    s, y = s[keep], y[keep]
    if np.any(y < 0):
        raise InputError("negative learning rates in the lr column", where=where)
    T = int(total_steps) if total_steps is not None else int(s[-1]) + 1
    w = int(s[0]) if warmup is None else int(warmup)
    if recognise:
        for cand in _candidates(s, y, T, w, init, T_given=total_steps is not None):
            if np.allclose(cand.lr(s), y, rtol=rtol, atol=0.0):
                return cand
    # piecewise: flat-flat jumps become step drops at the later logged step
    at: list[float] = []
    vals: list[float] = []
    if s[0] > 0:
        at += [0.0]
        vals += [init]
        if w < s[0]:
            at += [float(w)]
            vals += [float(y[0])]
    for i in range(s.size):
        if i > 0 and y[i] != y[i - 1] and s[i] - s[i - 1] > 1:
            flat_before = i >= 2 and y[i - 1] == y[i - 2]
            flat_after = i + 1 < s.size and y[i + 1] == y[i]
            if flat_before and flat_after:
                at.append(s[i] - 1.0)
                vals.append(float(y[i - 1]))
        at.append(float(s[i]))
        vals.append(float(y[i]))
    return Schedule("interp", {"steps": T, "at": at, "values": vals})


def _candidates(s, y, T, w, init, T_given=False):
    top = float(np.max(y))
    peaks = [float(y[0])] if w == s[0] else []
    peaks += [_nice(top, 10 ** -d) for d in (3, 4, 5, 6)] + [top]
    peaks = list(dict.fromkeys(peaks))
    ends = [T] if T_given else _end_guesses(s)
    out = []
    for peak in peaks:
        base = {"peak": peak, "warmup": w, "steps": ends[0], "init": init}
        out.append(Schedule("constant", dict(base)))
        for end in ends:
            b = {**base, "steps": end}
            # the final LR is not always logged (the log stops before the last step):
            # solve it from the last logged point for each shape
            for fam in ("cosine", "linear"):
                fin = _solve_final(s, y, b, fam)
                if fin is not None:
                    out.append(Schedule(fam, {**b, "final": fin}))
        chg = np.flatnonzero(np.abs(np.diff(y)) > 1e-12 * max(peak, 1e-30))
        if not chg.size:
            continue
        if chg.size == 1:
            out.append(Schedule("multistep", {**base, "milestones": [int(s[chg[0] + 1])],
                                              "gamma": _nice(float(y[-1] / peak), 1e-9)}))
        first = s[chg[0]]  # last logged step before the decay starts
        for end in ends:
            for dec_start in (*_round_starts(first, s[chg[0] + 1]), first, first + 1):
                n_dec = end - dec_start
                if n_dec <= 0:
                    continue
                for shape in ("linear", "cosine", "1-sqrt", "exp"):
                    b = {**base, "steps": end, "decay": float(n_dec), "shape": shape}
                    fin = _solve_final(s, y, b, shape, wsd=True)
                    if fin is not None:
                        out.append(Schedule("wsd", {**b, "final": fin}))
    return out


def _nice(f: float, rtol: float) -> float:
    """``f`` rounded to the fewest significant digits within ``rtol`` (what a person typed)."""
    for digits in range(1, 16):
        r = float(f"{f:.{digits}g}")
        if math.isclose(r, f, rel_tol=rtol):
            return r
    return float(f)


def _round_starts(lo, hi):
    # decays usually start at a round step between the two logged steps around the change
    out = []
    for q in (10000, 5000, 2000, 1000, 500, 100, 50, 10):
        c = math.ceil((lo + 1) / q) * q
        if c < hi:
            out.append(c)
    return out


def _end_guesses(s):
    # runs usually last a round number of steps: try those before "one after the last log"
    last = int(s[-1])
    ends = [int(math.ceil((last + 1) / q) * q) for q in (1000, 500, 100)] + [last + 1]
    return list(dict.fromkeys(ends))


def _solve_final(s, y, b, shape, wsd=False):
    """Final LR making the family pass through the last logged point (None if impossible)."""
    peak = b["peak"]
    if wsd:
        start = b["steps"] - b["decay"]
        u = (s[-1] - start) / b["decay"]
    else:
        u = (s[-1] - b["warmup"]) / max(b["steps"] - b["warmup"], 1)
    u = float(np.clip(u, 0, 1))
    yl = float(y[-1])
    if u <= 0:
        return None if wsd else 0.0
    if shape == "linear":
        f = peak + (yl - peak) / u
    elif shape == "cosine":
        c = 0.5 * (1 + math.cos(math.pi * u))
        f = (yl - peak * c) / (1 - c) if c < 1 else None
    elif shape == "1-sqrt":
        r = 1 - math.sqrt(u)
        f = (yl - peak * r) / (1 - r) if r < 1 else None
    else:  # exp
        f = peak * (yl / peak) ** (1 / u) if yl > 0 else None
    if f is None or not math.isfinite(f) or f < 0:
        return None if wsd else 0.0
    return _nice(float(f), 1e-7)
