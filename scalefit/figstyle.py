"""What every figure shares: the colour palette, the headless backend, axes, legends, grids.

The lowest layer of the figure code: :mod:`scalefit.plot`, :mod:`scalefit.curves.plot` and the
report draw with these, and this module imports none of them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FIGSIZE", "PALETTE", "SEQ_CMAP", "add_grid", "add_legend", "budget_colours",
           "headless_pyplot", "new_axes"]

#: Okabe & Ito (2008) colour-blind-safe palette
PALETTE = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
           "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}


def headless_pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            matplotlib.use("Agg", force=False)
        except Exception:  # noqa: BLE001 (a backend already in use stays)
            pass
    import matplotlib.pyplot as plt

    return plt


SEQ_CMAP = "cividis"
FIGSIZE = (7.2, 4.4)


def new_axes(ax, figsize=FIGSIZE):
    plt = headless_pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


def add_legend(ax, where: str | None = "outside", **kw):
    """A legend that never covers data: outside the axes on the right by default."""
    handles, labels = ax.get_legend_handles_labels()
    seen: dict = {}
    for h, lab in zip(handles, labels, strict=True):
        if lab and not lab.startswith("_") and lab not in seen:
            seen[lab] = h
    if not seen or where is None:
        return None
    if where == "outside":
        return ax.legend(seen.values(), seen.keys(), loc="upper left", bbox_to_anchor=(1.02, 1.0),
                         borderaxespad=0.0, fontsize=8, frameon=False, **kw)
    return ax.legend(seen.values(), seen.keys(), loc=where, fontsize=8, frameon=False, **kw)


def add_grid(ax):
    ax.grid(True, which="both", alpha=0.25, lw=0.5)


def budget_colours(n: int):
    plt = headless_pyplot()
    cmap = plt.get_cmap(SEQ_CMAP)
    return [cmap(v) for v in (np.linspace(0.0, 0.9, n) if n > 1 else [0.0])]
