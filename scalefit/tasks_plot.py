"""Figure of a chained task prediction: step 1 and step 2 side by side."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def plot_task(pred, actual: Mapping[str, float] | None = None, *, figsize=(10.0, 4.0)):
    """Two panels for a :class:`~scalefit.tasks.TaskPrediction`.

    Left: task loss against tokens, the fitted runs' points and the law's curve per model size,
    with each target's predicted loss and its interval. Right: accuracy against task loss, the
    checkpoints step 2 was fitted on, the sigmoid, and each target's predicted accuracy with its
    interval (and its actual accuracy, when given in ``actual``: target name -> accuracy).
    """
    from scalefit.figstyle import PALETTE, SEQ_CMAP, headless_pyplot, metric_label

    plt = headless_pyplot()

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=figsize)
    s1, s2 = pred.step1_data, pred.step2_data
    cmap = plt.get_cmap(SEQ_CMAP)
    sizes = sorted(s1["N"].unique()) if s1 is not None else []
    dmax = max([s1["tokens"].max() if s1 is not None else 1.0] + [t.D for t in pred.targets])
    dmin = s1["tokens"].min() if s1 is not None else dmax / 100
    grid = np.geomspace(dmin * 0.8, dmax * 1.3, 200)
    for i, n in enumerate(sizes):
        c = cmap(i / max(1, len(sizes) - 1) * 0.8)
        d = s1[s1["N"] == n]
        ax1.scatter(d["tokens"], d["value"], color=c, s=25, label=f"N={n:.3g}")
        ax1.plot(grid, pred.predict_loss(np.full_like(grid, n), grid), color=c, lw=1, alpha=0.7)
    for t in pred.targets:
        c = PALETTE["vermillion"]
        ax1.plot(grid, pred.predict_loss(np.full_like(grid, t.N), grid), color=c, lw=1, ls="--")
        yerr = None if np.isnan(t.loss_lo) else [[t.loss - t.loss_lo], [t.loss_hi - t.loss]]
        ax1.errorbar([t.D], [t.loss], yerr=yerr, fmt="x", color=c, capsize=3)
        ax1.annotate(t.name, (t.D, t.loss), textcoords="offset points", xytext=(5, 5),
                     fontsize=8, color=c)
    ax1.set_xscale("log")
    ax1.set_xlabel("training tokens D")
    ax1.set_ylabel(metric_label(pred.loss_metric))
    ax1.set_title(f"{pred.task}: step 1 ({pred.law})")
    ax1.legend(fontsize=7)

    if s2 is not None and len(s2):
        ax2.scatter(s2["loss"], s2["acc"], s=4, alpha=0.3, color="gray", label="ladder checkpoints")
        lo = min(s2["loss"].min(), *(t.loss for t in pred.targets))
        hi = s2["loss"].max()
        x = np.linspace(lo - 0.1 * (hi - lo), hi, 200)
        ax2.plot(x, pred.predict_acc_from_loss(x), color="black", lw=1.2, label="task_sigmoid")
    for t in pred.targets:
        yerr = None if np.isnan(t.lo) else [[t.acc - t.lo], [t.hi - t.acc]]
        ax2.errorbar([t.loss], [t.acc], yerr=yerr, fmt="o", color=PALETTE["vermillion"],
                     capsize=3, ms=4)
        ax2.annotate(t.name, (t.loss, t.acc), textcoords="offset points", xytext=(5, -10),
                     fontsize=8, color=PALETTE["vermillion"])
        if actual and t.name in actual:
            ax2.scatter([t.loss], [actual[t.name]], marker="*", s=60, color=PALETTE["blue"],
                        label="actual" if t is pred.targets[0] else None)
    ax2.set_xlabel(metric_label(pred.loss_metric))
    ax2.set_ylabel(metric_label(pred.acc_metric))
    ax2.set_title(f"{pred.task}: step 2 (task_sigmoid)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig
