"""Predicted-against-observed loss-curve figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scalefit.curves.data import Curve

__all__ = ["plot_curves"]


def plot_curves(result, curves: Sequence[Curve], *, path: str | Path | None = None,
                title: str | None = None, lr_panel: bool = True, axes=None):
    """One panel of observed (points) and predicted (line) loss per curve, with the error.

    ``axes``: optional Axes to draw into, one per curve (e.g. from your own figure). Returns the
    matplotlib Figure; ``path`` saves it (format from the suffix).
    """
    import matplotlib

    from scalefit.figstyle import PALETTE, metric_label

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = len(curves)
    settings = getattr(result, "settings", None) or {}
    ylabel = metric_label(settings.get("metric") or "loss")
    # the curves the fit saw, by file stem: every other panel is a held-out prediction
    fitted = {Path(str(q)).stem for q in ((settings.get("data") or {}).get("paths") or [])}
    if axes is None:
        cols = min(3, n)
        rows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
        own = True
    else:
        axes = np.asarray(axes, dtype=object)
        if axes.size < n:
            raise ValueError(f"axes: {axes.size} given for {n} curves; pass one Axes per curve")
        fig = axes.ravel()[0].figure
        own = False
    for ax, c in zip(axes.ravel(), curves, strict=False):
        df = result.predict(c)
        ax.plot(df["step"], df["loss_pred"], color=PALETTE["vermillion"], lw=1.5,
                label="predicted")
        lo = np.nanpercentile(df["loss_pred"], 1)
        hi = np.nanpercentile(df["loss_pred"], 99)
        y0, y1 = lo - 0.05 * (hi - lo), hi + 0.3 * (hi - lo)
        if "loss_lo" in df:
            pct = round(100 * getattr(result, "level", 0.95))
            # clipped to the drawn range, which follows the prediction
            ax.fill_between(df["step"], np.clip(df["loss_lo"], y0, y1),
                            np.clip(df["loss_hi"], y0, y1), color=PALETTE["vermillion"],
                            alpha=0.2, lw=0, label=f"{pct}% interval (leave one curve out)")
        if "loss" in df:
            ax.plot(df["step"], df["loss"], ".", ms=2.5, color=PALETTE["blue"], label="observed")
            err = np.abs(df["loss"] - df["loss_pred"]) / df["loss"]
            ax.set_title(f"{c.name}{_role(c.name, fitted)}\n|error| mean {100 * err.mean():.3f}%, "
                         f"worst {100 * err.max():.3f}%", fontsize=9)
        else:
            ax.set_title(f"{c.name}{_role(c.name, fitted)}", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel, fontsize=8)
        if lr_panel:
            ax2 = ax.twinx()
            ax2.plot(np.arange(c.eta.size), c.eta, color="0.7", lw=0.8)
            ax2.set_ylabel("learning rate", color="0.5", fontsize=8)
            ax2.tick_params(labelsize=7, colors="0.5")
        ax.set_ylim(y0, y1)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=8, loc="upper right")
    if own:
        fig.suptitle(title or f"{result.law}: predicted against observed\n"
                              f"{_formula(result)}", fontsize=10)
        fig.tight_layout()
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=130)
    return fig


def _formula(result) -> str:
    """The curve law's formula as mathtext (empty when the law cannot be resolved)."""
    from scalefit.figstyle import mathtext

    try:
        formula = result.law_.formula
    except Exception:  # noqa: BLE001 (a title without its formula)
        return ""
    return mathtext(formula) if formula else ""


def _role(name: str, fitted: set[str]) -> str:
    if not fitted:
        return ""
    return " (fitted)" if name in fitted else " (held out)"
