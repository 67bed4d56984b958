"""Figures of fits. Headless (matplotlib's Agg backend); every function returns its Axes.

Colours come from the Okabe-Ito palette, which stays distinct under the common colour-vision
deficiencies.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forecast", "PALETTE"]

#: Okabe & Ito (2008) colour-blind-safe palette
PALETTE = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
           "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            matplotlib.use("Agg", force=False)
        except Exception:  # noqa: BLE001 (a backend already in use stays)
            pass
    import matplotlib.pyplot as plt

    return plt


def _compute_of(inputs: dict) -> float | None:
    if "C" in inputs:
        return float(inputs["C"])
    if "N" in inputs and "D" in inputs:
        return 6.0 * float(inputs["N"]) * float(inputs["D"])
    return None


def forecast(result, ax=None, *, n_grid: int = 120, title: str | None = None):
    """Loss against training compute: the data, the fitted compute-optimal frontier with its
    bootstrap band, held-out runs, and the requested predictions with their intervals.

    For a law without a compute-optimal allocation whose only input is C, the fitted curve
    L(C) is drawn instead of the frontier.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    law = result.law_
    ds = result.dataset
    cs: list[float] = []
    if ds is not None:
        comp = ds.compute()
        held = np.zeros(ds.n, bool)
        if result.backtest and result.backtest.get("heldout_runs"):
            names = set(result.backtest["heldout_runs"])
            held = np.array([ds.runs[g] in names for g in ds.groups])
        ax.scatter(comp[~held], ds.y[~held], s=14, color=PALETTE["sky"], alpha=0.75,
                   edgecolors="none", label=f"runs ({ds.n_runs})", zorder=2)
        if held.any():
            ax.scatter(comp[held], ds.y[held], s=46, marker="D", facecolors="none",
                       edgecolors=PALETTE["vermillion"], linewidths=1.3,
                       label=f"held out ({result.backtest['holdout']})", zorder=3)
        cs += [float(comp.min()), float(comp.max())]
    for p in result.predictions:
        c = _compute_of(p.get("inputs", {}))
        if c is not None:
            cs.append(c)
    if not cs:
        cs = [1e18, 1e24]
    lo_c, hi_c = min(cs) / 2.0, max(cs) * 3.0
    grid = np.geomspace(lo_c, hi_c, n_grid)

    has_opt = law.optimal(result.params_, 1e20) is not None
    if has_opt:
        opt = result.optimal(grid)
        ax.plot(grid, opt["loss"], color=PALETTE["blue"], lw=2,
                label="compute-optimal frontier", zorder=4)
        if "loss_lo" in opt:
            ax.fill_between(grid, opt["loss_lo"], opt["loss_hi"], color=PALETTE["blue"],
                            alpha=0.18, lw=0, label=f"{int(round(100 * result.level))}% bootstrap band",
                            zorder=1)
    elif law.input_names == ["C"]:
        pr = result.predict(C=grid)
        ax.plot(grid, pr.value, color=PALETTE["blue"], lw=2, label=f"{law.name} fit", zorder=4)
        if pr.lo is not None:
            ax.fill_between(grid, pr.lo, pr.hi, color=PALETTE["blue"], alpha=0.18, lw=0,
                            label=f"{int(round(100 * result.level))}% band", zorder=1)

    first = True
    for p in result.predictions:
        c = _compute_of(p.get("inputs", {}))
        if c is None or p.get("value") is None:
            continue
        v = p["value"]
        yerr = None
        if p.get("lo") is not None and p.get("hi") is not None:
            yerr = [[max(v - p["lo"], 0.0)], [max(p["hi"] - v, 0.0)]]
        color = PALETTE["orange"] if p.get("kind") != "optimal" else PALETTE["green"]
        ax.errorbar([c], [v], yerr=yerr, fmt="*", ms=12, color=color, mec=PALETTE["black"],
                    mew=0.6, capsize=4, zorder=5,
                    label="prediction" if first and p.get("kind") != "optimal" else
                    ("compute-optimal prediction" if p.get("kind") == "optimal" else None))
        if p.get("kind") != "optimal":
            first = False

    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel(f"{result.metric}")
    ax.set_title(title or f"{law.name}: {law.formula}", fontsize=10)
    ax.grid(True, which="both", alpha=0.25, lw=0.5)
    handles, labels = ax.get_legend_handles_labels()
    seen = {}
    for h, lab in zip(handles, labels, strict=True):
        if lab and lab not in seen:
            seen[lab] = h
    ax.legend(seen.values(), seen.keys(), fontsize=8, frameon=False)
    return ax
