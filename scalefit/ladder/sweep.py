"""An LR sweep at small widths, whose best LR the ladder then trains every rung at.

For each width, one stacked model per seed trains every LR of the grid side by side (same
batches, same init) for a few hundred steps; its final loss is the mean validation loss over
fixed batches. The best LR is the vertex of a parabola in log LR fitted to the five grid points
around the grid's minimum (see :func:`best_lr`). Under μP (``param="mup"``) that LR transfers across widths (Yang et al.
2022); under SP it drifts down as the width grows. ``scalefit ladder run --lr-from SWEEP.json``
trains a ladder at the base width's best LR in the sweep's parametrisation.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from scalefit.errors import InputError, UsageError
from scalefit.ladder.config import BETA2, PARAMS, valid_beta2

__all__ = ["best_lr", "lr_sweep", "lrs_within_noise", "plot_sweep", "read_sweep", "write_sweep"]

#: 2 since μP models of a fixed head size keep SP's attention scale: a μP sweep of format 1 tuned
#: its LR for attention scaled by 1/head_dim, another model
SWEEP_FORMAT = 2
VAL_SEED = 0x5CA1EF17  # the same validation batches as the ladder's


def best_lr(lrs: Sequence[float], losses: Sequence[float], window: int = 5) -> tuple[float, int]:
    """The LR of least loss and the grid index of the least loss.

    The grid's minimum, refined by the vertex of a least-squares parabola in log LR through the
    ``window`` grid points centred on it: a run-to-run wobble of one point moves a three-point
    vertex by a grid step, a five-point fit much less. The vertex is kept within half a grid
    step of the minimum (a lopsided curve pulls a wide fit's vertex off it). A minimum at either
    end of the grid is returned as is (the optimum is not bracketed). Diverged runs (NaN or
    inf) count as worst and are left out of the fit."""
    lrs = np.asarray(lrs, float)
    y = np.where(np.isfinite(losses), np.asarray(losses, float), np.inf)
    if not np.isfinite(y).any():
        raise UsageError("every run of the sweep diverged", where="scalefit ladder sweep",
                         hint="sweep smaller LRs (--lrs)")
    i = int(np.argmin(y))
    if i == 0 or i == len(lrs) - 1:
        return float(lrs[i]), i
    w = max(3, min(window, len(lrs)))
    lo = max(0, min(i - w // 2, len(lrs) - w))
    x, yy = np.log(lrs[lo:lo + w]), y[lo:lo + w]
    ok = np.isfinite(yy)
    if ok.sum() >= 3:
        a, b, _ = np.polyfit(x[ok], yy[ok], 2)
        if a > 0:
            xl = np.log(lrs)
            lo_x, hi_x = (xl[i - 1] + xl[i]) / 2, (xl[i] + xl[i + 1]) / 2
            return float(np.exp(np.clip(-b / (2 * a), lo_x, hi_x))), i
    return float(lrs[i]), i


def lrs_within_noise(lrs: Sequence[float], losses_per_seed, z: float = 2.0) -> list[float] | None:
    """The grid LRs whose mean loss over seeds is within ``z`` standard errors of the best
    mean's (the errors of both means combined); None with one seed, which cannot tell.

    Small models' final losses scatter by a few per cent with the seed, as much as between
    neighbouring LRs, so the minimum of one seed's curve picks among ties."""
    y = np.asarray(losses_per_seed, float)  # (seeds, LRs)
    if y.ndim != 2 or y.shape[0] < 2:
        return None
    ok = np.isfinite(y).all(0)
    if not ok.any():
        return None
    mean = np.where(ok, y.mean(0), np.inf)
    se = np.where(ok, y.std(0, ddof=1) / math.sqrt(y.shape[0]), np.inf)
    j = int(np.argmin(mean))
    tied = ok & (mean - mean[j] <= z * np.sqrt(se**2 + se[j] ** 2))
    return [float(v) for v, t in zip(lrs, tied, strict=True) if t]


def lr_sweep(
    train: np.ndarray,
    val: np.ndarray,
    *,
    widths: Sequence[int],
    lrs: Sequence[float],
    param: str = "sp",
    base_width: int | None = None,
    n_layer: int = 2,
    head_dim: int = 16,
    seq_len: int = 128,
    batch_size: int = 4,
    steps: int = 300,
    warmup: int | None = None,
    schedule: str = "cosine",
    seeds: int = 1,
    vocab_size: int = 256,
    val_batches: int = 4,
    val_batch_size: int = 32,
    device: str = "cpu",
    beta2: float | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train every (width, LR, seed) for ``steps`` steps on ``train`` tokens; return the sweep
    (see :func:`write_sweep`): per width its LRs, final validation losses (mean over seeds) and
    best LR, and ``best_lr``: the base width's when it was swept, else the first width's.
    ``beta2``: AdamW's second-moment decay of every run (None: the ladder's default), recorded
    so that ``ladder run --lr-from`` trains at the beta2 the LR was found at."""
    import torch

    from scalefit.ladder.data import get_batch
    from scalefit.ladder.engine import make_engine
    from scalefit.ladder.plan import Rung, check_beta2, fill_schedule

    widths = [int(w) for w in widths]
    lrs = [float(x) for x in lrs]
    _check_args(widths, lrs, param, head_dim, steps, seeds)
    beta2 = BETA2 if beta2 is None else check_beta2(beta2)
    base = widths[0] if base_width is None else int(base_width)
    if param == "mup" and base <= 0:
        raise UsageError(f"the base width must be positive, got {base}", where="--base-width")
    warmup = max(1, steps // 10) if warmup is None else warmup
    vb = [get_batch(val, seq_len, val_batch_size, VAL_SEED, i) for i in range(val_batches)]
    out_widths = []
    tail = max(1, steps // 4)  # the last quarter's train loss: a second, smoother measure
    for d in widths:
        # every (seed, LR) of a width is one stacked model: seeds differ in init and batches
        rungs = [Rung(name=f"d{d}-lr{lr:g}-s{s}", n_layer=n_layer, d_model=d,
                      n_head=d // head_dim, seq_len=seq_len, batch_size=batch_size,
                      steps=steps, lr=lr, warmup=warmup,
                      schedule=fill_schedule(schedule, peak=lr, warmup=warmup, steps=steps),
                      eval_every=steps, seed=s, vocab_size=vocab_size,
                      param=param, base_width=base if param == "mup" else 0, beta2=beta2)
                 for s in range(seeds) for lr in lrs]
        k = len(rungs)
        sched = np.stack([r.schedule_obj().lr(np.arange(steps)) for r in rungs])
        eng = make_engine(rungs, device)
        train_tail = torch.zeros(k)
        for step in range(steps):
            batches = [get_batch(train, seq_len, batch_size, s, step) for s in range(seeds)]
            xs = [torch.from_numpy(batches[r.seed][0]) for r in rungs]
            ys = [torch.from_numpy(batches[r.seed][1]) for r in rungs]
            loss = eng.train_step(xs, ys, sched[:, step])
            if step >= steps - tail:
                train_tail += loss.cpu()
        val_loss = torch.zeros(k)
        for x, y in vb:
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            val_loss += eng.eval_loss([xt] * k, [yt] * k).cpu()
        losses = (val_loss / len(vb)).numpy().reshape(seeds, len(lrs))
        tails = (train_tail / tail).numpy().reshape(seeds, len(lrs))
        mean = losses.mean(0)
        lr_best, i = best_lr(lrs, mean)
        n = 12 * n_layer * d * d + (2 * n_layer + 1) * d
        tied = lrs_within_noise(lrs, losses)
        out_widths.append({"d_model": d, "n_head": d // head_dim, "params": n, "lrs": lrs,
                           "losses": [_num(v) for v in mean],
                           "losses_per_seed": [[_num(v) for v in row] for row in losses],
                           "train_tail_losses": [_num(v) for v in tails.mean(0)],
                           "best_lr": lr_best, "best_lr_grid": lrs[i],
                           "lrs_within_noise": tied})
        if log:
            log(f"d_model {d}: best LR {lr_best:.3g} (grid {lrs[i]:g}), loss "
                + " ".join(f"{v:.3f}" for v in mean))
            log(f"d_model {d}: " + (
                f"LRs within 2 standard errors of the best over {seeds} seeds: "
                + ", ".join(f"{v:g}" for v in tied) if tied is not None else
                "one seed: the loss scatters with the seed by about as much as between "
                "neighbouring LRs; --seeds 3 tells them apart"))
    by = {w["d_model"]: w for w in out_widths}
    return {"format": SWEEP_FORMAT, "param": param, "base_width": base,
            "best_lr": by[base]["best_lr"] if base in by else out_widths[0]["best_lr"],
            "n_layer": n_layer, "head_dim": head_dim, "seq_len": seq_len,
            "batch_size": batch_size, "steps": steps, "warmup": warmup, "schedule": schedule,
            "seeds": seeds, "vocab_size": vocab_size, "beta2": beta2, "widths": out_widths}


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None  # JSON has no NaN


def _check_args(widths, lrs, param, head_dim, steps, seeds) -> None:
    if param not in PARAMS:
        raise UsageError(f"unknown parametrisation {param!r}", where="--param",
                         hint=f"use one of {', '.join(PARAMS)}")
    if not widths or any(w <= 0 or w % head_dim or (head_dim % 2) for w in widths):
        raise UsageError(f"widths {widths} must be positive multiples of the head size {head_dim} "
                         "(an even number)", where="--widths")
    if len(lrs) < 3 or any(not (x > 0 and math.isfinite(x)) for x in lrs):
        raise UsageError("an LR sweep needs at least 3 positive LRs", where="--lrs",
                         hint="e.g. 1e-3,2e-3,4e-3,8e-3,1.6e-2")
    if list(lrs) != sorted(lrs):
        raise UsageError("LRs must be in increasing order", where="--lrs")
    if steps < 1 or seeds < 1:
        raise UsageError("steps and seeds must be at least 1", where="--steps/--seeds")


# ---------------------------------------------------------------------------- files
def write_sweep(sweep: dict, path: str | os.PathLike) -> Path:
    """Write a sweep as JSON (``best_lr``, ``param`` and ``base_width`` are what
    ``ladder run --lr-from`` reads)."""
    from scalefit.ladder.runlog import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(sweep, indent=1).encode())
    return path


def read_sweep(path: str | os.PathLike) -> dict:
    """A sweep written by :func:`write_sweep`, checked: a positive finite ``best_lr``, a known
    ``param``, under μP a positive integer ``base_width``, ``steps`` (the run length the LR
    was swept at) a positive integer and ``beta2`` in (0, 1) when given."""
    path = Path(path)
    hint = "give a file written by `scalefit ladder sweep --out`"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the sweep ({exc})", where=str(path), hint=hint) from None
    try:
        d = json.loads(text)
    except ValueError as exc:
        raise InputError(f"the sweep is not JSON ({exc})", where=str(path), hint=hint) from None
    if not isinstance(d, dict):
        raise InputError("the sweep is not a JSON object", where=str(path), hint=hint)
    lr, param, base = d.get("best_lr"), d.get("param"), d.get("base_width")
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not (lr > 0 and math.isfinite(lr)):
        raise InputError(f"best_lr must be a positive number, got {lr!r}", where=f"{path}: best_lr",
                         hint=hint)
    if param not in PARAMS:
        raise InputError(f"param must be one of {', '.join(PARAMS)}, got {param!r}",
                         where=f"{path}: param", hint=hint)
    if param == "mup" and (isinstance(base, bool) or not isinstance(base, int) or base <= 0):
        raise InputError(f"base_width must be a positive integer, got {base!r}",
                         where=f"{path}: base_width", hint=hint)
    fmt = d.get("format", 1)
    if param == "mup" and fmt != SWEEP_FORMAT:
        raise InputError(f"a μP sweep of format {fmt!r}; this scalefit reads format {SWEEP_FORMAT} "
                         "(its μP attention keeps SP's scale at a fixed head size, where format 1 "
                         "scaled it by 1/head_dim: another model, with another best LR)",
                         where=f"{path}: format", hint="run `scalefit ladder sweep` again")
    steps = d.get("steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0):
        raise InputError(f"steps must be a positive integer, got {steps!r}", where=f"{path}: steps",
                         hint=hint)
    b2 = d.get("beta2")  # absent in sweeps written before it was recorded: the default
    if b2 is not None and not valid_beta2(b2):
        raise InputError(f"beta2 must lie between 0 and 1, got {b2!r}", where=f"{path}: beta2",
                         hint=hint)
    return d


# ---------------------------------------------------------------------------- figure
def plot_sweep(sweeps: dict | Sequence[dict], ax=None):
    """Final validation loss against peak LR, one line per width (one panel per sweep when
    several are given, e.g. SP beside μP); the best LR of each width is starred."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    from scalefit.figstyle import FIGSIZE, add_grid, add_legend, budget_colours, headless_pyplot

    sweeps = [sweeps] if isinstance(sweeps, dict) else list(sweeps)
    plt = headless_pyplot()
    if ax is None:
        fig, axes = plt.subplots(1, len(sweeps), figsize=(FIGSIZE[0], FIGSIZE[1]), sharey=True,
                                 constrained_layout=True, squeeze=False)
        axes = list(axes[0])
    else:
        axes, fig = [ax], ax.figure
    for ax_, sw in zip(axes, sweeps, strict=False):
        ws = sw["widths"]
        for col, w in zip(budget_colours(len(ws)), ws, strict=True):
            y = np.array([np.nan if v is None else v for v in w["losses"]], float)
            ax_.plot(w["lrs"], y, "o-", color=col, ms=3, lw=1.2, label=f"d_model {w['d_model']}")
            yb = np.interp(np.log(w["best_lr"]), np.log(w["lrs"]), np.where(np.isfinite(y), y,
                                                                                np.nanmax(y)))
            ax_.plot([w["best_lr"]], [yb], "*", color=col, ms=11, mec="black", mew=0.5)
        ax_.set_xscale("log")
        # ticks at the swept LRs, plainly written (a log axis's minor labels collide)
        ax_.xaxis.set_major_locator(FixedLocator(ws[0]["lrs"]))
        ax_.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax_.xaxis.set_minor_formatter(NullFormatter())
        ax_.set_xlabel("peak LR")
        name = {"mup": "μP", "sp": "SP"}[sw["param"]]
        base = f", base width {sw['base_width']}" if sw["param"] == "mup" else ""
        b2 = sw.get("beta2")
        b2 = f", beta2 {b2:g}" if b2 is not None and b2 != BETA2 else ""
        ax_.set_title(f"{name}{base}: {sw['n_layer']} layers, {sw['steps']} steps{b2}",
                      fontsize=9)
        add_grid(ax_)
    axes[0].set_ylabel("final validation loss (nats/token)")
    add_legend(axes[-1])
    return fig
