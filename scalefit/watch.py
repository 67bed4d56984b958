"""Forecast a run's final loss while it trains, from the log it is writing.

:class:`Watcher` follows one growing log (any format :func:`scalefit.io.read_logs` reads) and,
at each :meth:`Watcher.poll`, reads what is new, refits a curve law on the loss so far and
forecasts the loss at the end of the schedule with an interval. :func:`forecast_prefix` is the
forecast on its own, for a curve prefix already in memory.

How the forecast is made (``forecast_prefix``):

1. The points logged after warmup are split: the last ``holdout`` fraction (20%) is the run's
   own recent past. Each candidate law (``lr_annealing``, ``multi_power``) is fitted on the
   points before it and scored on it (median relative error); the law that predicted the
   recent past best is refitted on every point and forecasts the final loss.
2. The interval (``level``, 95%) adds in quadrature, relative to the forecast: the recent-past
   error of the chosen law, grown by how much further the forecast reaches (in log steps)
   than that check did; half the two laws' disagreement on the final loss; the scatter of
   single logged points about the fit; a term for the LR decay still ahead (the annealing
   the fit has not seen, ``ANNEAL_PRIOR_REL`` per unit of the peak LR); and a floor
   (``BAND_FLOOR_REL``).
3. Off track: the last points are compared with the fit on the earlier points and its
   pointwise band (``flag_z`` standard deviations). A trailing run of points above it is a
   ``spike`` (1-2 points), a ``divergence`` (rising, or a non-finite loss) or a ``plateau``
   (flat while the forecast falls); the first step of the run and how far above the band
   and the forecast it is are reported.

Reading: CSV/TSV, W&B history CSV and JSON Lines logs are read incrementally (only complete
lines, ending in a newline, from where the last poll stopped, so a half-written last line is
read at a later poll, whole). Other formats are read again when the file's size or mtime
changes; a read that fails while the file grows (a TensorBoard record cut mid-write) keeps
the previous points and is retried. The log is opened read-only.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import FitError, InputError, ScalefitError, UsageError
from scalefit.files import atomic_path, atomic_write_text
from scalefit.schedules import Schedule, parse_schedule

__all__ = ["ANNEAL_PRIOR_REL", "BAND_FLOOR_REL", "EXIT_ABOVE", "EXIT_OFF_TRACK", "Forecast", "OffTrack",
           "WatchUpdate", "Watcher", "forecast_prefix"]

#: exit status of ``scalefit watch --once`` when the run is off track
EXIT_OFF_TRACK = 3
#: exit status of ``scalefit watch`` when the forecast final loss is above ``--fail-above``
EXIT_ABOVE = 4
#: smallest relative standard deviation of the final-loss forecast: the spread of the forecast
#: errors of the 72k-step multi-power runs at their later prefixes (benchmarks/watch_prefix.py)
BAND_FLOOR_REL = 0.002
#: relative standard deviation per unit of LR decay still ahead (as a fraction of the peak LR):
#: fitted on the points so far, the laws see little of the annealing a decaying schedule still
#: has to do; set so that the 95% band holds the final loss of the 72k-step cosine runs from a
#: quarter of the way (benchmarks/watch_prefix.py, the same runs: an in-sample calibration)
ANNEAL_PRIOR_REL = 0.015
#: candidate laws, in the order tried
LAWS = ("lr_annealing", "multi_power")
#: the loss metrics looked for, in order, when none is named
DEFAULT_METRICS = ("train/loss", "loss", "val/loss")
#: formats read incrementally (complete lines only)
_LINE_FORMATS = {"csv": True, "wandb": True, "jsonl": False}  # value: has a header line
_MAX_CHUNK = 64 << 20


# ---------------------------------------------------------------------- results
@dataclass
class OffTrack:
    """The trailing points that lie above the forecast band."""

    kind: str  # spike, divergence or plateau
    step: int  # first step of the run of points above the band
    last_step: int
    n_points: int
    loss: float  # the last logged loss
    expected: float  # the fit's loss at the last step
    upper: float  # the band's upper edge at the last step
    excess_rel: float  # (loss - expected) / expected at the worst point of the run

    def describe(self) -> str:
        """One line: the kind, where it started, and the last loss against the forecast and band."""
        n = f"{self.n_points} point{'s' if self.n_points > 1 else ''}"
        if not math.isfinite(self.loss):
            return f"{self.kind} from step {self.step}: the loss is {self.loss} ({n})"
        return (f"{self.kind} from step {self.step} ({n} above the band): loss {self.loss:.4g} "
                f"at step {self.last_step}, expected {self.expected:.4g} "
                f"(+{100 * self.excess_rel:.2f}%, band up to {self.upper:.4g})")

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict (non-finite numbers as strings)."""
        return {k: _num(v) for k, v in self.__dict__.items()}


@dataclass
class Forecast:
    """The forecast of the loss at ``final_step`` from a curve prefix."""

    final_step: int
    loss: float
    lo: float
    hi: float
    level: float
    law: str
    scores: dict[str, float]  # median relative error of each law on the recent past
    finals: dict[str, float]  # each law's final-loss forecast from the earlier points
    n_points: int
    last_step: int
    rel_sd: float
    components: dict[str, float]
    off_track: OffTrack | None = None
    #: the forecast curve and band at ``steps`` (for figures)
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pred: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pred_lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pred_hi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    params: dict[str, float] = field(default_factory=dict)
    #: how much further (in log steps) the forecast reaches than the recent-past check did
    reach: float = 1.0

    def holds(self, loss: float) -> bool:
        """Whether ``loss`` lies inside the forecast interval ``[lo, hi]``."""
        return bool(self.lo <= loss <= self.hi)

    def to_dict(self) -> dict:
        """The forecast as a JSON-ready dict, without the curve arrays."""
        return {"final_step": self.final_step, "loss": self.loss, "lo": self.lo,
                "hi": self.hi, "level": self.level, "law": self.law,
                "scores": self.scores, "finals": self.finals, "n_points": self.n_points,
                "last_step": self.last_step, "rel_sd": self.rel_sd, "reach": self.reach,
                "components": self.components, "params": self.params,
                "off_track": None if self.off_track is None else self.off_track.to_dict()}


@dataclass
class WatchUpdate:
    """What one :meth:`Watcher.poll` found."""

    path: str
    time: float
    n_points: int
    new_points: int
    last_step: int | None
    last_loss: float | None
    total_steps: int
    forecast: Forecast | None
    refitted: bool
    message: str = ""
    done: bool = False
    events: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def off_track(self) -> OffTrack | None:
        """The forecast's off-track finding, or None (none, or no forecast yet)."""
        return None if self.forecast is None else self.forecast.off_track

    def summary_line(self) -> str:
        """One status line: the final-loss forecast with its band and whether the run is on
        track, or the progress so far while there is no forecast."""
        if self.forecast is None:
            return (f"{self.path}: {self.n_points} points, last step "
                    f"{self.last_step if self.last_step is not None else '-'}"
                    f"/{self.total_steps}: {self.message or 'no forecast yet'}")
        f = self.forecast
        pct = round(100 * f.level)
        state = "OFF TRACK: " + f.off_track.describe() if f.off_track else "on track"
        return (f"step {f.last_step}/{self.total_steps}: final loss at step {f.final_step} "
                f"{f.loss:.4f} [{f.lo:.4f}, {f.hi:.4f}] ({pct}%, {f.law}); {state}")

    def to_dict(self) -> dict:
        """The update as a JSON-ready dict, forecast included."""
        return {"path": self.path, "time": self.time, "n_points": self.n_points,
                "new_points": self.new_points, "last_step": self.last_step,
                "last_loss": _num(self.last_loss), "total_steps": self.total_steps,
                "refitted": self.refitted, "done": self.done, "message": self.message,
                "forecast": None if self.forecast is None else self.forecast.to_dict(),
                "events": self.events, "notes": self.notes}


def _num(v):
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else str(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


# ---------------------------------------------------------------------- forecast
def _robust_sd(r: np.ndarray) -> float:
    r = r[np.isfinite(r)]
    if r.size < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def _thin(steps: np.ndarray, loss: np.ndarray, max_points: int):
    """At most ``max_points`` points, evenly spaced in index, the last one kept."""
    if steps.size <= max_points:
        return steps, loss
    idx = np.unique(np.linspace(0, steps.size - 1, max_points).round().astype(int))
    return steps[idx], loss[idx]


def _fit(law: str, eta: np.ndarray, steps: np.ndarray, loss: np.ndarray, method: str | None):
    """A fit of one law on points ``steps`` (the LR truncated to the last of them)."""
    from threadpoolctl import threadpool_limits

    from scalefit.curves import Curve, fit_curves

    c = Curve("watch", eta[: int(steps.max()) + 1], steps, loss)
    # L-BFGS-B's small BLAS calls slow down many times over when BLAS threads compete for
    # the cores; one thread is the fastest for these sizes
    with threadpool_limits(limits=1, user_api="blas"):
        return fit_curves([c], law, method=method, skip_warmup=False)


def forecast_prefix(curve, schedule: str | dict | Schedule | None = None, *,
                    final_step: int | None = None, holdout: float = 0.2, level: float = 0.95,
                    laws: Sequence[str] = LAWS, flag_z: float = 3.0, max_points: int = 600,
                    method: str | None = None, grid: int = 200) -> Forecast:
    """Forecast the loss at ``final_step`` (default: the schedule's last step) from ``curve``.

    ``curve``: a :class:`scalefit.curves.Curve` (its logged steps and losses so far), or a
    ``(steps, loss)`` pair. ``schedule``: the run's whole LR schedule (a spec, dict or
    Schedule); by default the curve's own. Points logged before the LR reaches its peak are
    left out (the laws do not describe warmup); non-finite losses are left out of the fits
    and count as a divergence when they end the log. Raises :class:`FitError` when too few
    points are logged after warmup. The method is described in the module docstring.
    """
    if not 0.05 <= holdout <= 0.5:
        raise UsageError(f"holdout {holdout} is outside [0.05, 0.5]", where="holdout")
    if not 0 < level < 1:
        raise UsageError(f"level {level} is outside (0, 1)", where="level")
    if isinstance(curve, tuple):
        steps, loss = (np.asarray(a) for a in curve)
        sch = None
    else:
        steps, loss, sch = curve.steps, curve.loss, curve.schedule
        if loss is None:
            raise UsageError("the curve has no losses", where=getattr(curve, "name", None))
    sch = parse_schedule(schedule) if schedule is not None else sch
    if sch is None:
        raise UsageError("no schedule", hint="pass the run's schedule, e.g. "
                         "cosine:peak=3e-4,warmup=2000,steps=100000")
    steps = np.asarray(steps, dtype=np.int64)
    loss = np.asarray(loss, dtype=float)
    T = int(sch.total_steps)
    eta = sch.lr(np.arange(T))
    final = T - 1 if final_step is None else int(final_step)
    if steps.size and steps.max() >= T:
        raise UsageError(f"the log reaches step {int(steps.max())} but the schedule ends at "
                         f"step {T - 1}", where="--schedule",
                         hint="give the schedule the run trains with (its total steps)")
    if not 0 < final < T:
        raise UsageError(f"final step {final} is outside the schedule's {T} steps",
                         where="final_step")
    peak = int(np.argmax(eta >= eta.max() * (1 - 1e-9)))
    keep = steps >= max(peak, 1)
    steps, loss = steps[keep], loss[keep]
    ok = np.isfinite(loss) & (loss > 0)
    n_tail_bad = 0
    while n_tail_bad < ok.size and not ok[ok.size - 1 - n_tail_bad]:
        n_tail_bad += 1
    fs, fl = steps[ok], loss[ok]
    n = fs.size
    n_tail = max(3, int(round(holdout * n)))
    n_head = n - n_tail
    z = _z(level)
    usable = [law for law in laws if n_head >= _min_points(law)]
    if not usable:
        need = min(_min_points(law) for law in laws) + 3
        raise FitError(f"{n} points after warmup (step {peak}); the forecast needs at least "
                       f"{math.ceil(need / (1 - holdout))}", hint="wait for more of the run")
    hs, hl = _thin(fs[:n_head], fl[:n_head], max_points)
    ts, tl = fs[n_head:], fl[n_head:]
    heads, scores, finals = {}, {}, {}
    for law in usable:
        try:
            r = _fit(law, eta, hs, hl, method)
        except FitError:
            continue
        pred = r.predict(eta, steps=np.r_[ts, final])["loss_pred"].to_numpy()
        if not np.all(np.isfinite(pred)):
            continue
        heads[law] = r
        scores[law] = float(np.median(np.abs(tl - pred[:-1]) / tl))
        finals[law] = float(pred[-1])
    if not heads:
        raise FitError("no curve law could be fitted to the points so far",
                       hint="check that the schedule is the one the run trains with")
    law = min(scores, key=scores.get)
    head = heads[law]
    # the fit on every point forecasts; the fit on the earlier points judges the last ones
    xs, xl = _thin(fs, fl, max_points)
    try:
        full = _fit(law, eta, xs, xl, method)
    except FitError:
        full = head
    fin = float(full.predict(eta, steps=[final])["loss_pred"].iloc[0])
    # relative error components of the final-loss forecast
    head_fit = head.predict(eta, steps=hs)["loss_pred"].to_numpy()
    noise = _robust_sd((hl - head_fit) / hl)
    last, cut = int(fs[-1]), int(hs[-1])
    reach = math.log(max(final, last + 1) / last) / max(math.log(last / cut), 1e-9)
    tail_err = scores[law]
    spread = (0.5 * (max(finals.values()) - min(finals.values())) / fin if len(finals) > 1
              else 0.0)
    top = float(eta.max())
    ahead = max(0.0, float(eta[last] - eta[last:final + 1].min())) / top
    comp = {"recent_error": tail_err * reach, "law_spread": spread, "noise": noise,
            "lr_decay_ahead": ANNEAL_PRIOR_REL * ahead, "floor": BAND_FLOOR_REL}
    rel_sd = math.sqrt(sum(v * v for v in comp.values()))
    # off track: the last points against the earlier fit's pointwise band; its drift is
    # measured on the first half of the recent past, before any trailing anomaly
    head_pred_tail = head.predict(eta, steps=ts)["loss_pred"].to_numpy()
    early = np.abs(tl - head_pred_tail)[: max(2, ts.size // 2)] / tl[: max(2, ts.size // 2)]
    point_sd = math.sqrt(noise ** 2 + (2 * float(np.median(early))) ** 2
                         + (BAND_FLOOR_REL / 2) ** 2)
    off = _off_track(steps, loss, ok, n_tail_bad, ts, tl, head_pred_tail, point_sd, flag_z)
    # the curve and its band, for figures
    gs = np.unique(np.r_[np.linspace(int(fs[0]), final, grid).round().astype(np.int64), last])
    gp = full.predict(eta, steps=gs)["loss_pred"].to_numpy()
    g_reach = np.where(gs > last, np.log(np.maximum(gs, 1) / last)
                       / max(math.log(last / cut), 1e-9), 0.0)
    g_ahead = np.array([max(0.0, float(eta[last] - eta[last:g + 1].min())) / top
                        if g > last else 0.0 for g in gs])
    g_sd = np.sqrt(noise ** 2 + BAND_FLOOR_REL ** 2 + (tail_err * g_reach) ** 2
                   + (spread * np.minimum(g_reach / max(reach, 1e-9), 1.0)) ** 2
                   + (ANNEAL_PRIOR_REL * g_ahead) ** 2)
    return Forecast(final_step=final, loss=fin, lo=fin * (1 - z * rel_sd),
                    hi=fin * (1 + z * rel_sd), level=level, law=law, scores=scores,
                    finals=finals, n_points=int(steps.size), last_step=int(steps[-1]),
                    rel_sd=rel_sd, components=comp, off_track=off, steps=gs, pred=gp,
                    pred_lo=gp * (1 - z * g_sd), pred_hi=gp * (1 + z * g_sd),
                    params=dict(full.params), reach=reach)


def _min_points(law: str) -> int:
    from scalefit.laws.curve import get_curve_law

    return 2 * len(get_curve_law(law).params)


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _off_track(steps, loss, ok, n_bad, ts, tl, pred, point_sd, flag_z) -> OffTrack | None:
    if n_bad:  # the log ends in NaN or inf losses
        first = int(steps[steps.size - n_bad])
        return OffTrack("divergence", first, int(steps[-1]), n_bad, float(loss[-1]),
                        float(pred[-1]), float(pred[-1] * (1 + flag_z * point_sd)),
                        float("inf"))
    upper = pred * (1 + flag_z * point_sd)
    above = tl > upper
    k = 0
    while k < above.size and above[above.size - 1 - k]:
        k += 1
    if k == 0:
        return None
    run_l, run_p = tl[-k:], pred[-k:]
    excess = (run_l - run_p) / run_p
    if k <= 2:
        kind = "spike"
    else:
        # rising by more than the noise over the run: diverging; else flat while the
        # forecast falls: a plateau
        slope = np.polyfit(np.arange(k), run_l, 1)[0] * (k - 1)
        kind = "divergence" if slope > 2 * point_sd * run_p[0] else "plateau"
    return OffTrack(kind, int(ts[-k]), int(ts[-1]), k, float(tl[-1]), float(pred[-1]),
                    float(upper[-1]), float(excess.max()))


# ---------------------------------------------------------------------- reading
class _Log:
    """The points of one growing log: step -> loss, read incrementally where possible."""

    def __init__(self, path: Path, fmt: str | None, metric: str | None, options: dict):
        from scalefit.io import sniff

        self.path = path
        self.options = options
        self.metric = metric
        self.fmt = fmt
        self.points: dict[int, float] = {}
        self.offset = 0
        self.header: bytes | None = None
        self.sig: tuple | None = None
        self.notes: list[str] = []
        self._sniff = sniff

    # -- helpers
    def _format(self) -> str | None:
        if self.fmt is None:
            if self.path.is_file() and self.path.stat().st_size == 0:
                return None  # nothing written yet: sniff later
            self.fmt = self._sniff(self.path)
        return self.fmt

    def _incremental(self) -> bool:
        return (self.fmt in _LINE_FORMATS and self.path.is_file()
                and not self.path.name.lower().endswith(".gz"))

    def read(self) -> int:
        """Read what is new; returns the number of new or changed points."""
        if not self.path.exists():
            raise InputError("file not found", where=str(self.path),
                             hint="the log is watched from its first line; start the watch "
                                  "once the run has created it")
        if self._format() is None:
            return 0
        if self._incremental():
            return self._read_lines()
        return self._read_whole()

    def _read_lines(self) -> int:
        size = self.path.stat().st_size
        if size < self.offset:  # truncated or replaced: read it again from the start
            self.notes.append(f"the log shrank ({size} < {self.offset} bytes): read again "
                              "from its start")
            self.offset, self.header, self.points = 0, None, {}
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(_MAX_CHUNK)
        end = data.rfind(b"\n")
        if end < 0:
            return 0  # no complete line yet
        chunk = data[: end + 1]
        self.offset += end + 1
        has_header = _LINE_FORMATS[self.fmt]
        if has_header and self.header is None:
            nl = chunk.find(b"\n")
            self.header, chunk = chunk[: nl + 1], chunk[nl + 1:]
            # blank lines before the header are not the header
            while not self.header.strip() and chunk:
                nl = chunk.find(b"\n")
                self.header, chunk = chunk[: nl + 1], chunk[nl + 1:]
            if not self.header.strip():
                self.header = None
                return 0
        if not chunk.strip():
            return 0
        suffix = self.path.suffix.lower() if self.path.suffix.lower() in (
            ".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json") else (
            ".jsonl" if self.fmt == "jsonl" else ".csv")
        with tempfile.TemporaryDirectory(prefix="scalefit-watch-") as tmp:
            part = Path(tmp) / f"part{suffix}"
            part.write_bytes((self.header or b"") + chunk)
            frame = self._parse(part, shown=str(self.path))
        return self._merge(frame)

    def _read_whole(self) -> int:
        sig = _signature(self.path)
        if sig == self.sig:
            return 0
        try:
            frame = self._parse(self.path, shown=str(self.path))
        except InputError as exc:
            if self.sig is None and not self.points and "truncated" not in exc.message:
                raise
            # a record may be half written while the file grows: keep what was read
            self.notes.append(f"kept the previous points: {exc.message}; read again at the "
                              "next change")
            self.sig = sig
            return 0
        self.sig = sig
        old = self.points
        self.points = {}
        self._merge(frame)
        return sum(1 for s, v in self.points.items() if s not in old or not _same(old[s], v))

    def _parse(self, file: Path, shown: str):
        from scalefit.io import read_logs

        try:
            data = read_logs(file, format=self.fmt, run="watched", **self.options)
        except ScalefitError as exc:
            where = (exc.where or "").replace(str(file), shown) or shown
            raise type(exc)(exc.message.replace(str(file), shown), where=where,
                            hint=exc.hint) from None
        pts = data.points
        runs = pts["run"].dropna().unique()
        if len(runs) > 1:
            raise InputError(f"the log holds {len(runs)} runs; watch follows one",
                             where=shown, hint="watch the file of one run")
        metrics = [str(m) for m in pts["metric"].dropna().unique()]
        if self.metric is None:
            self.metric = next((m for m in DEFAULT_METRICS if m in metrics), None)
            if self.metric is None and metrics:
                raise InputError("no loss metric (train/loss, loss or val/loss)", where=shown,
                                 hint=f"name one with --metric; metrics in this log: "
                                      f"{', '.join(sorted(metrics))}")
        sel = pts[pts["metric"] == self.metric]
        return sel[["step", "value"]].dropna(subset=["step"])

    def _merge(self, frame) -> int:
        if not len(frame):
            return 0
        st = frame["step"].to_numpy(dtype=np.int64)
        val = frame["value"].to_numpy(dtype=float)
        if self.points and st.size and st.min() <= max(self.points):
            # a step that goes back (a restart from a checkpoint) replaces what follows it
            lo = int(st.min())
            self.points = {s: v for s, v in self.points.items() if s < lo}
        for s, v in zip(st.tolist(), val.tolist(), strict=True):
            self.points[int(s)] = float(v)
        return int(st.size)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.points:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        s = np.array(sorted(self.points), dtype=np.int64)
        return s, np.array([self.points[int(k)] for k in s])


def _signature(path: Path) -> tuple:
    """Size and mtime of a file, or of every file in a folder (a TensorBoard log dir)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())[:10_000]
        sig = []
        for p in files:
            try:
                st = p.stat()
            except FileNotFoundError:  # a trainer's temporary file, renamed since the listing
                continue
            sig.append((str(p), st.st_size, st.st_mtime_ns))
        return tuple(sig)
    st = path.stat()
    return (st.st_size, st.st_mtime_ns)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


# ---------------------------------------------------------------------- the watcher
class Watcher:
    """Follow one training log and forecast its final loss at each :meth:`poll`.

    ``path``: the log (any format scalefit reads); ``schedule``: the run's LR schedule (a spec
    such as ``cosine:peak=3e-4,warmup=2000,steps=100000``, a dict or a Schedule), whose total
    steps are the run's end. ``metric``: the loss to follow (default: train/loss, loss or
    val/loss, the first present). ``format`` and ``read_options`` go to
    :func:`scalefit.io.read_logs`. ``min_new_points``: refit only once this many new points
    arrived. ``holdout``, ``level``, ``laws``, ``flag_z``, ``method``: see
    :func:`forecast_prefix`.
    """

    def __init__(self, path: str | os.PathLike, schedule: str | dict | Schedule, *,
                 metric: str | None = None, format: str | None = None,
                 read_options: dict | None = None, holdout: float = 0.2,
                 level: float = 0.95, laws: Sequence[str] = LAWS, flag_z: float = 3.0,
                 min_new_points: int = 1, method: str | None = None, max_points: int = 600):
        from scalefit.io import FORMATS

        self.path = Path(path)
        self.schedule = parse_schedule(schedule)
        if format is not None and format not in FORMATS:
            raise UsageError(f"unknown format {format!r}", where="--format",
                             hint=f"one of {', '.join(FORMATS)}")
        for law in laws:
            if law not in LAWS:
                raise UsageError(f"unknown law {law!r}", where="--law",
                                 hint=f"one of {', '.join(LAWS)}")
        self.kw = dict(holdout=holdout, level=level, laws=tuple(laws), flag_z=flag_z,
                       method=method, max_points=max_points)
        self.min_new_points = max(1, int(min_new_points))
        self._log = _Log(self.path, format, metric, dict(read_options or {}))
        self.forecast: Forecast | None = None
        self.events: list[dict] = []
        self._pending = 0
        self._message = ""
        self.polls = 0

    @property
    def total_steps(self) -> int:
        """Total steps of the run's schedule, its end (the forecast is for step
        ``total_steps - 1``)."""
        return int(self.schedule.total_steps)

    @property
    def metric(self) -> str | None:
        """The loss metric followed: the one named, else the first of :data:`DEFAULT_METRICS` in the
        log (None until the log shows one)."""
        return self._log.metric

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The steps and losses read so far (sorted by step)."""
        return self._log.arrays()

    def poll(self) -> WatchUpdate:
        """Read what the log gained since the last poll and refit when there is enough new."""
        self.polls += 1
        new = self._log.read()
        notes, self._log.notes = self._log.notes, []
        self._pending += new
        steps, loss = self._log.arrays()
        refitted = False
        if self._pending >= self.min_new_points:
            self._pending = 0
            try:
                self.forecast = forecast_prefix((steps, loss), self.schedule, **self.kw)
                self._message = ""
                refitted = True
            except FitError as exc:
                self.forecast = None
                self._message = str(exc)
            if self.forecast is not None and self.forecast.off_track is not None:
                self._event(self.forecast.off_track)
        if not steps.size:
            self._message = (f"waiting for {self.metric or 'loss'} points" if self.path.exists()
                             else "waiting for the log")
        done = bool(steps.size and steps[-1] >= self.total_steps - 1 - _last_gap(steps))
        return WatchUpdate(
            path=str(self.path), time=time.time(), n_points=int(steps.size), new_points=new,
            last_step=int(steps[-1]) if steps.size else None,
            last_loss=float(loss[-1]) if steps.size else None, total_steps=self.total_steps,
            forecast=self.forecast, refitted=refitted, message=self._message, done=done,
            events=list(self.events), notes=notes)

    def _event(self, off: OffTrack) -> None:
        ev = {"kind": off.kind, "step": off.step, "last_step": off.last_step,
              "excess_rel": _num(off.excess_rel)}
        if self.events and self.events[-1]["step"] == off.step:
            self.events[-1] = ev  # the same episode, seen again
        else:
            self.events.append(ev)


def _last_gap(steps: np.ndarray) -> int:
    """The logging interval: a run whose last point is within one interval of the end is done."""
    return int(np.median(np.diff(steps[-10:]))) if steps.size > 1 else 0


# ---------------------------------------------------------------------- outputs
def write_json(update: WatchUpdate, path: str | os.PathLike) -> None:
    """The update as JSON, replacing ``path`` atomically."""
    text = json.dumps(update.to_dict(), indent=2, default=_jsonable)
    atomic_write_text(Path(path), text)


def write_plot(update: WatchUpdate, steps: np.ndarray, loss: np.ndarray,
               path: str | os.PathLike) -> None:
    """The curve so far and the forecast band, replacing ``path`` atomically."""
    from scalefit.figstyle import PALETTE, headless_pyplot

    plt = headless_pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    try:
        ax.plot(steps, loss, ".", ms=3, color=PALETTE["black"], label="logged loss")
        f = update.forecast
        if f is not None:
            ax.plot(f.steps, f.pred, "-", color=PALETTE["blue"], label=f"{f.law} fit")
            ax.fill_between(f.steps, f.pred_lo, f.pred_hi, color=PALETTE["sky"], alpha=0.35,
                            lw=0, label=f"{round(100 * f.level)}% band")
            ax.errorbar([f.final_step], [f.loss], yerr=[[f.loss - f.lo], [f.hi - f.loss]],
                        fmt="o", color=PALETTE["vermillion"], capsize=3,
                        label=f"final {f.loss:.4f}")
            if f.off_track is not None:
                m = (steps >= f.off_track.step) & (steps <= f.off_track.last_step)
                ax.plot(steps[m], loss[m], "x", color=PALETTE["vermillion"],
                        label=f"off track: {f.off_track.kind}")
            fin = loss[np.isfinite(loss)]
            if fin.size:
                lo = min(float(np.min(f.pred_lo)), float(fin.min()))
                hi = float(np.percentile(fin, 98))
                ax.set_ylim(lo - 0.02 * (hi - lo), hi + 0.05 * (hi - lo))
        ax.set_xlim(0, update.total_steps * 1.03)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(Path(update.path).name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
        fmt = Path(path).suffix.lstrip(".").lower() or "png"
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def _jsonable(o: Any):
    if isinstance(o, (np.floating, np.integer)):
        return _num(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)
