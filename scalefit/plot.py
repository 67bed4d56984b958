"""Figures of fits. Headless (matplotlib's Agg backend); every function returns its Axes.

Colours come from the Okabe-Ito palette, which stays distinct under the common colour-vision
deficiencies.
"""

from __future__ import annotations

import numpy as np

# the conventions every figure module shares (palette, backend, axes) live one layer down
from scalefit.figstyle import (
    COMPUTE_LABELS,
    PALETTE,
    add_grid,
    add_legend,
    budget_colours,
    headless_pyplot,
    mathtext,
    metric_label,
    new_axes,
    padded_limits,
    param_label,
    readable_log_axis,
    run_compute,
)
from scalefit.files import atomic_path

__all__ = ["forecast", "heldout_points", "PALETTE"]

_AXIS_LABELS = {"C": "training compute C (FLOPs)", "N": "non-embedding parameters N",
                "D": "training tokens D"}


def _compute_of(inputs: dict, x: str | None = None) -> float | None:
    """Compute of a prediction or held-out point from its inputs: 6·N·D when it has N and D
    (the compute the laws' frontier uses), else its C input."""
    if x is not None:
        return float(inputs[x]) if x in inputs else None
    if "N" in inputs and "D" in inputs:
        return 6.0 * float(inputs["N"]) * float(inputs["D"])
    if "C" in inputs:
        return float(inputs["C"])
    return None


def _compute_axis(ds, x_in: str | None) -> tuple[np.ndarray | None, str]:
    """Each point's x value and the axis label: the law's one input, else the shared compute
    definition (:func:`scalefit.figstyle.run_compute`)."""
    if x_in is not None:
        label = _AXIS_LABELS.get(x_in, x_in)
        return (None if ds is None else np.asarray(ds.X[x_in], float)), label
    if ds is None:
        return None, COMPUTE_LABELS["6ND"]
    comp, label = run_compute(ds)
    if label == COMPUTE_LABELS["flops"] and "N" in ds.X and "D" in ds.X:
        nd = 6.0 * np.asarray(ds.X["N"], float) * np.asarray(ds.X["D"], float)
        if np.any(np.abs(comp / nd - 1.0) > 0.01):
            # the frontier and the requested predictions have no logged FLOPs
            label = "training compute C (runs: logged FLOPs; frontier, predictions: 6ND)"
    return comp, label


def heldout_points(result, ds=None, x_in: str | None = None) -> dict | None:
    """The backtest's held-out points as drawn: x (the run's compute on the figure's axis),
    observed value, the backtest refit's prediction and its interval (the backtest-calibrated
    width at the point's distance beyond the refit's range; without a calibration, the fit's
    own relative interval at the point). None when the fit has no backtest points."""
    bt = result.backtest or {}
    pts = [q for q in bt.get("points") or [] if q.get("value") is not None
           and q.get("pred") is not None]
    if not pts:
        return None
    comp = _compute_axis(ds, x_in)[0] if ds is not None else None
    where: dict[str, list[int]] = {}
    if comp is not None:
        for i, g in enumerate(ds.groups):
            where.setdefault(ds.runs[g], []).append(i)
    x = np.full(len(pts), np.nan)
    for k, q in enumerate(pts):
        idx = where.get(str(q.get("run")), [])
        if len(idx) > 1:  # checkpoints of one run: the one at this point's inputs
            dist = np.zeros(len(idx))
            for name, v in (q.get("inputs") or {}).items():
                if name in ds.X and v:
                    dist += np.abs(np.log(np.asarray(ds.X[name], float)[idx] / float(v)))
            idx = [idx[int(np.argmin(dist))]]
        if idx:
            x[k] = comp[idx[0]]
        else:
            x[k] = _compute_of(q.get("inputs") or {}, x_in) or np.nan
    obs = np.array([q["value"] for q in pts], float)
    pred = np.array([q["pred"] for q in pts], float)
    cal = bt.get("calibration") or {}
    lo = hi = None
    how = ""
    if cal.get("rate_per_decade") is not None:
        from scipy.special import ndtri

        z = float(ndtri(0.5 + result.level / 2))
        off = float(cal.get("offset_decades", 0.2))
        dist = np.array([float(q.get("decades_beyond") or 0.0) for q in pts])
        w = np.maximum(float(cal["rate_per_decade"]) * (dist + off),
                       z * float(cal.get("noise") or 0.0))
        lo, hi, how = pred * np.exp(-w), pred * np.exp(w), "backtest-calibrated"
    else:
        try:
            rel = [result.predict(**{k: float(v) for k, v in (q.get("inputs") or {}).items()})
                   for q in pts]
        except Exception:  # noqa: BLE001 (no interval to draw: the pair alone)
            rel = []
        if rel and all(r.lo is not None for r in rel):
            val = np.array([float(np.ravel(r.value)[0]) for r in rel])
            lo = pred * np.array([float(np.ravel(r.lo)[0]) for r in rel]) / val
            hi = pred * np.array([float(np.ravel(r.hi)[0]) for r in rel]) / val
            how = "the fit's relative"
    return {"x": x, "value": obs, "pred": pred, "lo": lo, "hi": hi, "interval": how,
            "runs": [str(q.get("run")) for q in pts], "holdout": bt.get("holdout"),
            "mean_rel_error": float(np.mean(np.abs(obs - pred) / obs))}


def _prediction_interval(result, p: dict) -> tuple[float | None, float | None]:
    """A requested prediction's interval; for a compute-optimal one without its own, the
    interval of the loss at its optimal N and D."""
    lo, hi = p.get("lo"), p.get("hi")
    if lo is not None and hi is not None:
        return float(lo), float(hi)
    n, d = (p.get("N") or {}).get("value"), (p.get("D") or {}).get("value")
    if p.get("kind") == "optimal" and n and d and {"N", "D"} <= set(result.law_.input_names):
        try:
            pr = result.predict(N=float(n), D=float(d))
        except Exception:  # noqa: BLE001 (no interval: the star alone)
            return None, None
        if pr.lo is not None and pr.hi is not None:
            return float(np.ravel(pr.lo)[0]), float(np.ravel(pr.hi)[0])
    return None, None


def forecast(result, ax=None, *, n_grid: int = 120, title: str | None = None,
             heldout_panel: bool = True):
    """Loss against training compute: the data, the fitted compute-optimal frontier with its
    bootstrap band, the requested predictions with their intervals, and the backtest's
    held-out runs next to their own predictions (the refit without them) with intervals.

    Without ``ax`` and with held-out runs, a second panel below shows each held-out run's error
    against its own prediction (observed / predicted - 1, in %). For a law without a
    compute-optimal allocation whose only input is x (C, N, D or another), the loss is drawn
    against x with the fitted curve L(x) instead of the frontier. Returns the main Axes (the
    error panel, when drawn, is ``ax.heldout_ax``).
    """
    plt = headless_pyplot()
    law = result.law_
    ds = _fit_dataset(result, required=False)
    # a one-input law is drawn against its own input; otherwise against compute
    x_in = law.input_names[0] if len(law.input_names) == 1 else None
    held = heldout_points(result, ds, x_in)
    err_ax = None
    if ax is None:
        if held is not None and heldout_panel:
            fig, (ax, err_ax) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True,
                                             constrained_layout=True,
                                             gridspec_kw={"height_ratios": [3.0, 1.2]})
        else:
            _, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    comp, xlabel = _compute_axis(ds, x_in)
    cs: list[float] = []
    ys: list[float] = []
    if ds is not None:
        is_held = np.zeros(ds.n, bool)
        if held is not None:
            names = set(held["runs"])
            is_held = np.array([ds.runs[g] in names for g in ds.groups])
        ax.scatter(comp[~is_held], ds.y[~is_held], s=14, color=PALETTE["sky"], alpha=0.75,
                   edgecolors="none", label=f"runs ({ds.n_runs - len(set(held['runs'])) if held else ds.n_runs})",
                   zorder=2)
        cs += [float(np.nanmin(comp)), float(np.nanmax(comp))]
        ys += list(ds.y)
    pct = int(round(100 * result.level))
    if held is not None:
        hx, hv, hp = held["x"], held["value"], held["pred"]
        ok = np.isfinite(hx)
        # each held-out run joined to its own prediction
        from matplotlib.collections import LineCollection

        ax.add_collection(LineCollection([[(a, b), (a, c)] for a, b, c in
                                          zip(hx[ok], hv[ok], hp[ok], strict=True)],
                                         colors=PALETTE["vermillion"], linewidths=0.7,
                                         alpha=0.6, zorder=3, label="_pairs"))
        yerr = None
        if held["lo"] is not None:
            yerr = np.vstack([hp - held["lo"], held["hi"] - hp])[:, ok]
            ys += list(held["lo"][ok]) + list(held["hi"][ok])
        ax.errorbar(hx[ok], hp[ok], yerr=yerr, fmt="_", ms=9, mew=1.4, color=PALETTE["black"],
                    ecolor=PALETTE["black"], elinewidth=0.7, capsize=0, alpha=0.8, zorder=4,
                    label=("held out: predicted by the refit without them"
                           + (f" ({pct}% interval)" if yerr is not None else "")))
        ax.scatter(hx[ok], hv[ok], s=34, marker="D", facecolors="none",
                   edgecolors=PALETTE["vermillion"], linewidths=1.2, zorder=5,
                   label=f"held out ({held['holdout']})")
        ys += list(hv[ok]) + list(hp[ok])
        cs += list(hx[ok])
    for p in result.predictions:
        c = _compute_of(p.get("inputs", {}), x_in)
        if c is not None:
            cs.append(c)
    if not cs:
        cs = [1e18, 1e24]
    lo_c, hi_c = min(cs) / 2.0, max(cs) * 3.0
    grid = np.geomspace(lo_c, hi_c, n_grid)

    first = True
    stars = []
    for p in result.predictions:
        c = _compute_of(p.get("inputs", {}), x_in)
        if c is None or p.get("value") is None:
            continue
        v = float(p["value"])
        lo, hi = _prediction_interval(result, p)
        yerr = None
        if lo is not None and hi is not None:
            yerr = [[max(v - lo, 0.0)], [max(hi - v, 0.0)]]
            ys += [lo, hi]
        ys.append(v)
        optimal_kind = p.get("kind") == "optimal"
        color = PALETTE["green"] if optimal_kind else PALETTE["orange"]
        label = (f"compute-optimal prediction ({pct}% interval)" if optimal_kind else
                 f"prediction ({pct}% interval)" if first else None)
        stars.append((c, v, yerr, color, label))
        if not optimal_kind:
            first = False
    has_opt = law.optimal(result.params_, 1e20) is not None
    opt = pr = None
    if has_opt:
        opt = result.optimal(grid)
        ys += list(opt["loss"])
    elif x_in is not None:
        pr = result.predict(**{x_in: grid})
        ys += list(np.ravel(pr.value))
    # the data, the fitted line and the predictions with their intervals set the range; the
    # bootstrap band is clipped to it (a band far below the data says nothing more)
    y0, y1 = padded_limits(ys or [1.0, 10.0])

    if has_opt:
        ax.plot(grid, opt["loss"], color=PALETTE["blue"], lw=2,
                label="compute-optimal frontier", zorder=4)
        if "loss_lo" in opt:
            ax.fill_between(grid, np.clip(opt["loss_lo"], y0, y1), np.clip(opt["loss_hi"], y0, y1),
                            color=PALETTE["blue"], alpha=0.18, lw=0,
                            label=f"{pct}% bootstrap band", zorder=1)
    elif x_in is not None:
        ax.plot(grid, pr.value, color=PALETTE["blue"], lw=2, label=f"{law.name} fit", zorder=4)
        if pr.lo is not None:
            ax.fill_between(grid, np.clip(pr.lo, y0, y1), np.clip(pr.hi, y0, y1),
                            color=PALETTE["blue"], alpha=0.18, lw=0, label=f"{pct}% band",
                            zorder=1)
    for c, v, yerr, color, label in stars:
        ax.errorbar([c], [v], yerr=yerr, fmt="*", ms=13, color=color, mec=PALETTE["black"],
                    mew=0.6, ecolor=PALETTE["black"], elinewidth=1.3, capsize=5, capthick=1.3,
                    zorder=6, label=label)

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo_c, hi_c)
    ax.set_ylim(y0, y1)
    readable_log_axis(ax, "y")
    ax.set_ylabel(metric_label(result.metric))
    ens = getattr(result, "ensemble", None)
    if title is None and ens:
        from scalefit.laws import get_law

        best = max(ens["members"], key=lambda m: m["weight"])
        title = (f"average of {len(ens['members'])} fits ({best['label']} weighs most): "
                 f"{mathtext(get_law('chinchilla').formula)}")
    ax.set_title(title or f"{law.name}: {mathtext(law.formula)}", fontsize=10)
    ax.grid(True, which="both", alpha=0.25, lw=0.5)
    handles, labels = ax.get_legend_handles_labels()
    seen = {}
    for h, lab in zip(handles, labels, strict=True):
        if lab and not lab.startswith("_") and lab not in seen:
            seen[lab] = h
    ax.legend(seen.values(), seen.keys(), fontsize=7, frameon=False)
    ax.set_xlabel(xlabel)
    if err_ax is not None:
        _heldout_errors(err_ax, held, pct)
        err_ax.set_xlabel(xlabel)
        ax.tick_params(labelbottom=False)
        ax.xaxis.label.set_visible(False)  # named once, under the error panel
    ax.heldout_ax = err_ax
    return ax


def _heldout_errors(ax, held: dict, pct: int) -> None:
    """Held-out runs' error against their own prediction, in %, with the interval."""
    ok = np.isfinite(held["x"])
    x, v, p = held["x"][ok], held["value"][ok], held["pred"][ok]
    err = 100.0 * (v / p - 1.0)
    yerr = None
    if held["lo"] is not None:
        yerr = np.vstack([100.0 * (1.0 - held["lo"][ok] / p), 100.0 * (held["hi"][ok] / p - 1.0)])
    ax.axhline(0.0, color=PALETTE["black"], lw=0.8)
    ax.errorbar(x, np.zeros_like(x), yerr=yerr, fmt="none", ecolor="0.55", elinewidth=2.5,
                alpha=0.45, zorder=2,
                label=f"{pct}% interval of the prediction ({held['interval']})"
                if yerr is not None else None)
    ax.scatter(x, err, s=26, marker="D", facecolors="none", edgecolors=PALETTE["vermillion"],
               linewidths=1.1, zorder=3,
               label=f"held out ({held['holdout']}, {len(set(held['runs']))} runs): "
                     f"mean |error| {100 * held['mean_rel_error']:.1f}%")
    ax.set_ylabel("held out:\nobserved / predicted − 1 (%)", fontsize=8)
    spread = np.abs(np.concatenate([err, np.ravel(yerr) if yerr is not None else []]))
    spread = spread[np.isfinite(spread)]  # no point may be placeable (no compute to draw it at)
    lim = 1.15 * float(spread.max()) if spread.size and spread.max() > 0 else 1.0
    ax.set_ylim(-lim, lim)
    ax.grid(True, which="both", alpha=0.25, lw=0.5)
    ax.legend(fontsize=7, frameon=False, loc="lower left")


# ---------------------------------------------------------------------- shared style
# IsoFLOP profiles, compute-optimal allocation, residuals, bootstrap distributions, and the
# helpers they share. Budgets and other ordered series use a sequential map (cividis) that is
# readable under colour-vision deficiencies and in greyscale.

__all__ += ["isoflop", "optimal", "residuals", "bootstrap", "bootstrap_grid",
            "most_correlated_pair", "figure", "save", "FIGURES", "FORMATS"]

#: file suffixes ``save`` writes
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _level_pct(result) -> int:
    return int(round(100 * result.level))


def _final_arrays(data, metric=None):
    """(C, N, loss, run names) of each run's final value, from a table, store, logs or fit."""
    from scalefit.errors import UsageError

    ds = getattr(data, "dataset", None) if hasattr(data, "params_") else None
    if hasattr(data, "params_") and ds is None:
        raise UsageError("this fit carries no data (it was read from JSON)",
                         where="isoflop", hint="pass the runs table or store the fit came from")
    if ds is None:
        from scalefit.fitting.dataset import build_dataset
        from scalefit.laws import get_law

        ds = build_dataset(data, get_law("chinchilla"), metric=metric)
    if "N" not in ds.X:
        raise UsageError("IsoFLOP profiles need each run's parameter count N", where="isoflop")
    names = np.array([ds.runs[g] for g in ds.groups], dtype=object)
    return run_compute(ds)[0], np.asarray(ds.X["N"], float), np.asarray(ds.y, float), names, \
        ds.metric


# ---------------------------------------------------------------------- isoflop
def isoflop(data, ax=None, *, result=None, metric: str | None = None, window: float = 0.1,
            min_points: int = 3, legend: str | None = "outside", title: str | None = None):
    """IsoFLOP profiles: final loss against N at each compute budget, the curve the minimum
    was read from (the parabola at the bottom of each profile, or the Akima interpolant for
    ``method="akima"``), and the minimum.

    ``data`` is anything :func:`scalefit.fit` accepts (a runs table, store, log paths) or a
    :class:`~scalefit.result.FitResult` that still holds its data. ``result`` is an
    :class:`~scalefit.fitting.isoflop.IsoFlopResult` already computed from the same runs;
    without it one is computed with ``window`` and ``min_points``.
    """
    from scalefit.fitting.isoflop import isoflop as isoflop_fit
    from scalefit.fitting.isoflop import lowest_per_size

    C, N, y, _, metric = _final_arrays(data, metric)
    ok = np.isfinite(C) & np.isfinite(N) & np.isfinite(y) & (C > 0) & (N > 0) & (y > 0)
    C, N, y = C[ok], N[ok], y[ok]
    iso = result if result is not None else isoflop_fit(C=C, N=N, loss=y, window=window,
                                                        min_points=min_points)
    akima = iso.settings.get("method") == "akima"
    ax = new_axes(ax)
    key = np.round(np.log10(C), 4)  # the grouping isoflop() uses
    budgets = np.unique(key)
    minima = iso.minima
    colours = budget_colours(len(budgets))
    for j, b in enumerate(budgets):
        sel = key == b
        c = float(np.exp(np.log(C[sel]).mean()))
        col = colours[j]
        sc = ax.scatter(N[sel], y[sel], s=18, color=col, alpha=0.85, edgecolors="none",
                        zorder=2, label="runs (colour: compute budget C)")
        sc.set_gid(f"C = {_fmt(c)} FLOPs")  # the budget, for readers of the figure's artists
        row = minima.iloc[int(np.argmin(np.abs(np.log(minima["C"].to_numpy()) - np.log(c))))]
        if akima and np.isfinite(row["N_opt"]):
            from scipy.interpolate import Akima1DInterpolator

            ux, uy = lowest_per_size(np.log(N[sel]), y[sel])
            xs = np.linspace(ux[0], ux[-1], 200)
            ax.plot(np.exp(xs), np.exp(Akima1DInterpolator(ux, np.log(uy))(xs)), color=col,
                    lw=1.3, zorder=3, ls="-" if row["used"] else ":")
            ax.plot([row["N_opt"]], [row["loss"]], marker="*", ms=12, color=col,
                    mec=PALETTE["black"], mew=0.7, ls="none", zorder=4,
                    label="minimum N_opt (median of noisy redraws)")
            continue
        if not np.isfinite(row["N_opt"]) or not np.isfinite(row["curvature"]):
            continue
        # parabola in ln N around the vertex, over this budget's sampled sizes, clipped to the
        # loss range of its points so a flat profile does not run off the figure
        xs = np.linspace(np.log(N[sel].min()), np.log(N[sel].max()), 80)
        ys = row["loss"] + 0.5 * row["curvature"] * (xs - np.log(row["N_opt"])) ** 2
        keep = ys <= y[sel].max() * 1.02
        ax.plot(np.exp(xs[keep]), ys[keep], color=col, lw=1.3, zorder=3,
                ls="-" if row["used"] else ":")
        ax.plot([row["N_opt"]], [row["loss"]], marker="*", ms=12, color=col,
                mec=PALETTE["black"], mew=0.7, ls="none", zorder=4,
                label="minimum N_opt (parabola vertex)" if row["used"] else
                "minimum not bracketed: left out of the N_opt fit (dotted)")
    ax.plot([], [], color=PALETTE["black"], lw=1.3,
            label="Akima interpolation in log N" if akima else "parabola in log N per budget")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("final " + metric_label(metric))
    y0, y1 = padded_limits(y, margin=0.06)
    ax.set_ylim(y0, y1)
    if ax.get_yscale() == "log":
        readable_log_axis(ax, "y")
    ax.set_title(title or f"IsoFLOP profiles: $N_{{opt}} = {iso.k:.3g}\\,C^{{{iso.a:.3f}}}$ "
                 f"(± {iso.a_se:.3f})", fontsize=10)
    add_grid(ax)
    _budget_colourbar(ax, budgets, colours, C, key)
    if legend == "outside":  # below the axes: the colourbar holds the right-hand side
        handles, labels = ax.get_legend_handles_labels()
        seen = dict(zip(labels, handles, strict=True))
        fig = ax.figure
        if fig.get_layout_engine() is not None and len(fig.axes) <= 2:
            # under the whole figure: a legend wider than the axes would push them away from
            # the colourbar
            fig.legend(seen.values(), seen.keys(), loc="outside lower center",
                       ncol=min(3, len(seen)), fontsize=7, frameon=False)
        else:
            ax.legend(seen.values(), seen.keys(), loc="upper center",
                      bbox_to_anchor=(0.5, -0.13), ncol=min(3, len(seen)), fontsize=7,
                      frameon=False)
    else:
        add_legend(ax, legend)
    return ax


def _budget_colourbar(ax, budgets, colours, C, key) -> None:
    """One colour per compute budget, named on a colourbar instead of one legend entry each."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    n = len(budgets)
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(n + 1) - 0.5, n)
    cb = ax.figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02,
                            fraction=0.05, aspect=30)
    vals = [float(np.exp(np.log(C[key == b]).mean())) for b in budgets]
    step = max(1, int(np.ceil(n / 12)))  # at most 12 tick labels
    ticks = list(range(0, n, step))
    cb.set_ticks(ticks)
    cb.set_ticklabels([_fmt(vals[i]).replace("e+", "e") for i in ticks], fontsize=7)
    cb.set_label("compute budget C (FLOPs)", fontsize=8)
    ax.budget_colorbar = cb


# ---------------------------------------------------------------------- optimal
def optimal(result, ax=None, *, C=None, n_grid: int = 100, isoflop_result=None,
            legend: str | None = "outside", title: str | None = None):
    """Compute-optimal parameters N and tokens D against compute C, each with its bootstrap
    band, the requested compute-optimal predictions with intervals, and IsoFLOP minima when
    ``isoflop_result`` is given."""
    from scalefit.errors import UsageError

    law = result.law_
    if law.optimal(result.params_, 1e20) is None:
        raise UsageError(f"law {law.name!r} defines no compute-optimal allocation",
                         where="optimal", hint="use a law such as chinchilla")
    ax = new_axes(ax)
    if C is not None:
        grid = np.asarray(C, float)
    else:
        cs = []
        ds = _fit_dataset(result, required=False)
        if ds is not None:
            comp = _compute_axis(ds, None)[0]
            cs += [float(comp.min()), float(comp.max())]
        cs += [_compute_of(p.get("inputs", {})) for p in result.predictions]
        cs = [c for c in cs if c]
        if isoflop_result is not None:
            cs += list(isoflop_result.minima["C"].to_numpy(float))
        lo_c, hi_c = (min(cs) / 2.0, max(cs) * 3.0) if cs else (1e18, 1e25)
        grid = np.geomspace(lo_c, hi_c, n_grid)
    opt = result.optimal(grid)
    band = f"{_level_pct(result)}% bootstrap band"
    for k, colour, name in (("N", PALETTE["blue"], "N_opt (parameters)"),
                            ("D", PALETTE["vermillion"], "D_opt (tokens)")):
        ax.plot(grid, opt[k], color=colour, lw=2, label=name, zorder=3)
        if f"{k}_lo" in opt:
            ax.fill_between(grid, opt[f"{k}_lo"], opt[f"{k}_hi"], color=colour, alpha=0.18,
                            lw=0, label=band, zorder=1)
    for p in result.predictions:
        if p.get("kind") != "optimal":
            continue
        c = float(p["inputs"]["C"])
        for k, colour in (("N", PALETTE["blue"]), ("D", PALETTE["vermillion"])):
            rec = p.get(k) or {}
            v = rec.get("value")
            if v is None:
                continue
            yerr = None
            if rec.get("lo") is not None and rec.get("hi") is not None:
                yerr = [[max(v - rec["lo"], 0.0)], [max(rec["hi"] - v, 0.0)]]
            ax.errorbar([c], [v], yerr=yerr, fmt="*", ms=11, color=colour, mec=PALETTE["black"],
                        mew=0.6, capsize=4, zorder=5, label="requested budget")
    if isoflop_result is not None:
        m = isoflop_result.minima[isoflop_result.minima["used"]]
        ax.scatter(m["C"], m["N_opt"], marker="o", s=30, facecolors="none",
                   edgecolors=PALETTE["blue"], zorder=4, label="IsoFLOP minima (N)")
        ax.scatter(m["C"], m["D_opt"], marker="s", s=30, facecolors="none",
                   edgecolors=PALETTE["vermillion"], zorder=4, label="IsoFLOP minima (D)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(COMPUTE_LABELS["6ND"])
    ax.set_ylabel("compute-optimal N (parameters) and D (tokens)")
    a = result.derived.get("a", {}).get("value")
    b = result.derived.get("b", {}).get("value")
    exps = (f": $N_{{opt}} \\propto C^{{{a:.3f}}}$, $D_{{opt}} \\propto C^{{{b:.3f}}}$"
            if a is not None and b is not None else "")
    ax.set_title(title or f"{law.name} compute-optimal allocation{exps}", fontsize=10)
    add_grid(ax)
    add_legend(ax, legend)
    return ax


# ---------------------------------------------------------------------- residuals
def _fit_dataset(result, data=None, *, required: bool = True):
    """The fit's points: from ``data`` or, for a fit read from JSON, from the data it records,
    rebuilt with its recorded runs and options (``artefacts.rebuild_dataset``), so a figure
    shows the points the fit saw and no others. None when not ``required`` and not found."""
    import warnings

    from scalefit.errors import ScalefitError, UsageError

    if data is None and result.dataset is not None:
        return result.dataset
    if data is None and not (result.settings or {}).get("data"):
        if not required:
            return None
        raise UsageError("this fit carries no data (it was read from JSON)",
                         where="residuals", hint="pass data= (the logs or store the fit came from)")
    from scalefit.artefacts import rebuild_dataset

    try:
        ds, notes = rebuild_dataset(result, data)
    except ScalefitError as exc:
        if required:
            raise
        warnings.warn(f"{exc}; the figure shows the fit without its points", UserWarning,
                      stacklevel=3)
        return None
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=3)
    if data is None and not notes:
        result.dataset = ds  # the fit's own data: keep it for the next figure
    return ds


def residuals(result, ax=None, *, data=None, legend: str | None = "outside",
              title: str | None = None):
    """Log residuals ln y − ln ŷ of the fit against training compute, with the held-out runs'
    residuals from the backtest refit (when the fit has a backtest)."""
    ds = _fit_dataset(result, data)
    law = result.law_
    pred = law._predict(law.check_inputs(ds.X), result._theta())
    r = np.log(ds.y) - np.log(pred)
    comp, xlabel = _compute_axis(ds, None)
    ax = new_axes(ax)
    held = np.zeros(ds.n, bool)
    bt = result.backtest or {}
    if bt.get("heldout_runs"):
        names = set(bt["heldout_runs"])
        held = np.array([ds.runs[g] in names for g in ds.groups])
    rms = float(np.sqrt(np.mean(r * r)))
    ax.axhspan(-rms, rms, color=PALETTE["sky"], alpha=0.15, lw=0, label=f"± rms ({rms:.3g})")
    ax.axhline(0.0, color=PALETTE["black"], lw=0.8)
    ax.scatter(comp[~held], r[~held], s=14, color=PALETTE["blue"], alpha=0.8, edgecolors="none",
               label=f"in-sample ({int((~held).sum())} points)", zorder=3)
    if held.any():
        ax.scatter(comp[held], r[held], s=30, marker="D", facecolors="none",
                   edgecolors=PALETTE["vermillion"], lw=1.1, zorder=4,
                   label="held-out runs, full fit")
    held_bt = heldout_points(result, ds)
    pts = held_bt is not None
    if pts:
        bc = held_bt["x"]
        br = np.log(held_bt["value"]) - np.log(held_bt["pred"])
        ax.scatter(bc, br, s=30, marker="x", color=PALETTE["orange"], zorder=5,
                   label=f"held-out runs, backtest ({bt.get('holdout')})")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("log residual ln(observed / predicted)\n" + metric_label(result.metric),
                  fontsize=9)
    lim = float(np.nanmax(np.abs(np.concatenate([r, br if pts else []])))) * 1.1 or 1e-3
    ax.set_ylim(-lim, lim)
    ax.set_title(title or f"{law.name} residuals: {mathtext(law.formula)}", fontsize=10)
    add_grid(ax)
    add_legend(ax, legend)
    return ax


# ---------------------------------------------------------------------- bootstrap
def _boot_samples(result):
    from scalefit.errors import UsageError

    if result.samples is None or not len(result.samples):
        raise UsageError("this fit has no bootstrap samples", where="bootstrap",
                         hint="fit with bootstrap=K (CLI: --bootstrap K, K > 0)")
    law = result.law_
    names = list(law.param_names)
    S = np.asarray(result.samples, float)
    free = [i for i, k in enumerate(names) if np.nanstd(S[:, i]) > 0]
    logs = {p.name: bool(p.log) for p in law.params}
    return names, S, free, logs


def _space(S, i, log):
    x = S[:, i]
    return np.log(x) if log and np.all(x > 0) else x


def most_correlated_pair(result) -> tuple[str, str]:
    """The two free parameters whose bootstrap draws are most correlated (amplitudes in log)."""
    names, S, free, logs = _boot_samples(result)
    if len(free) < 2:
        from scalefit.errors import UsageError

        raise UsageError("fewer than two parameters vary across the bootstrap",
                         where="bootstrap")
    Z = np.stack([_space(S, i, logs.get(names[i], False)) for i in free], 1)
    ok = np.all(np.isfinite(Z), 1)
    R = np.corrcoef(Z[ok].T)
    np.fill_diagonal(R, 0.0)
    i, j = np.unravel_index(int(np.nanargmax(np.abs(R))), R.shape)
    i, j = sorted((int(i), int(j)))
    return names[free[i]], names[free[j]]


def bootstrap(result, ax=None, *, pair: tuple[str, str] | None = None,
              legend: str | None = "outside", title: str | None = None):
    """Joint bootstrap distribution of two parameters (by default the most correlated pair,
    e.g. chinchilla's A and alpha), with the point estimate and percentile intervals."""
    names, S, _, logs = _boot_samples(result)
    a, b = pair or most_correlated_pair(result)
    from scalefit.errors import UsageError

    for k in (a, b):
        if k not in names:
            raise UsageError(f"no parameter {k!r}; the law's parameters are {names}",
                             where="bootstrap")
    i, j = names.index(a), names.index(b)
    x, y = S[:, i], S[:, j]
    ok = np.isfinite(x) & np.isfinite(y)
    ax = new_axes(ax, figsize=(6.4, 4.8))
    rho = float(np.corrcoef(_space(S[ok], i, logs.get(a)), _space(S[ok], j, logs.get(b)))[0, 1])
    ax.scatter(x[ok], y[ok], s=9, color=PALETTE["blue"], alpha=0.45, edgecolors="none",
               label=f"{int(ok.sum())} bootstrap fits (r = {rho:.2f})", zorder=2)
    ax.plot([result.params_[a]], [result.params_[b]], marker="*", ms=14, ls="none",
            color=PALETTE["orange"], mec=PALETTE["black"], mew=0.7, zorder=4, label="fit")
    ci = result.ci_ or {}
    lab = f"{_level_pct(result)}% percentile interval"
    if a in ci:
        for v in ci[a]:
            ax.axvline(v, color=PALETTE["vermillion"], ls="--", lw=1, label=lab, zorder=3)
    if b in ci:
        for v in ci[b]:
            ax.axhline(v, color=PALETTE["vermillion"], ls="--", lw=1, label=lab, zorder=3)
    if logs.get(a) and np.all(x[ok] > 0):
        ax.set_xscale("log")
    if logs.get(b) and np.all(y[ok] > 0):
        ax.set_yscale("log")
    ax.set_xlabel(param_label(a))
    ax.set_ylabel(param_label(b))
    ax.set_title(title or f"{result.law_.name} on {result.metric!r}: bootstrap of "
                 f"{param_label(a)} and {param_label(b)} ({result.n_runs} runs resampled)",
                 fontsize=10)
    add_grid(ax)
    add_legend(ax, legend)
    return ax


def bootstrap_grid(result, params: list[str] | None = None, fig=None):
    """Corner plot of the bootstrap: each parameter's histogram on the diagonal, pairwise
    scatters below it. Returns the (P, P) array of Axes (upper triangle hidden)."""
    names, S, free, logs = _boot_samples(result)
    use = [names.index(p) for p in params] if params else free
    plt = headless_pyplot()
    P = len(use)
    if fig is None:
        fig = plt.figure(figsize=(1.9 * P + 0.8, 1.9 * P + 0.6), constrained_layout=True)
    axes = fig.subplots(P, P, squeeze=False)
    ok = np.all(np.isfinite(S[:, use]), 1)
    for r, i in enumerate(use):
        for c, j in enumerate(use):
            ax = axes[r, c]
            if c > r:
                ax.set_visible(False)
                continue
            xi, xj = S[ok, j], S[ok, i]
            logx = logs.get(names[j]) and np.all(xi > 0)
            if r == c:
                bins = np.geomspace(xi.min(), xi.max(), 30) if logx else 30
                ax.hist(xi, bins=bins, color=PALETTE["sky"], edgecolor="none")
                ax.axvline(result.params_[names[i]], color=PALETTE["orange"], lw=1.5)
                for v in (result.ci_ or {}).get(names[i], ()):
                    ax.axvline(v, color=PALETTE["vermillion"], ls="--", lw=1)
                ax.set_yticks([])
            else:
                ax.scatter(xi, xj, s=4, color=PALETTE["blue"], alpha=0.4, edgecolors="none")
                ax.plot([result.params_[names[j]]], [result.params_[names[i]]], marker="*",
                        ms=9, color=PALETTE["orange"], mec=PALETTE["black"], mew=0.5)
                if logs.get(names[i]) and np.all(xj > 0):
                    ax.set_yscale("log")
            if logx:
                ax.set_xscale("log")
            ax.tick_params(labelsize=7)
            if r == P - 1:
                ax.set_xlabel(param_label(names[j]), fontsize=9)
            if c == 0 and r > 0:
                ax.set_ylabel(param_label(names[i]), fontsize=9)
    fig.suptitle(f"{result.law_.name} on {result.metric!r}: bootstrap over runs "
                 f"({int(ok.sum())} fits); "
                 f"star = fit, dashed = {_level_pct(result)}% interval", fontsize=10)
    return axes


# ---------------------------------------------------------------------- dispatch and files
def curves_figure(result, ax=None, *, curves=None, data=None, **kw):
    """Observed against predicted loss curves (``scalefit.curves.plot.plot_curves``) of a
    loss-curve fit; ``curves`` (Curve objects) or ``data`` (curve files) give the observed
    curves. Returns the array of panels."""
    from scalefit.errors import UsageError

    if ax is not None:
        raise UsageError("the loss-curve figure draws its own panels; call it without ax",
                         where="curves")
    from scalefit.curves.plot import plot_curves

    if curves is None:
        from scalefit.artefacts import rebuild_curves

        if not data and not (result.settings or {}).get("data"):
            raise UsageError("the curves figure needs the observed curves, and this fit records "
                             "no curve files", where="curves",
                             hint="pass data= (the curve files: step, lr, loss) or curves=")
        # the recorded files (or those given), read with the fit's schedules, sizes and metric
        curves = rebuild_curves(result, data or None)
    fig = plot_curves(result, list(curves), **kw)
    return np.array([a for a in fig.axes if a.get_xlabel() == "step"])


#: figure kinds by name: each takes a fit result (and optional ax) and returns its Axes
FIGURES = {"forecast": forecast, "isoflop": isoflop, "optimal": optimal,
           "residuals": residuals, "bootstrap": bootstrap, "curves": curves_figure}


def figure(result, kind: str = "forecast", ax=None, **kw):
    """Draw the figure ``kind`` (a key of :data:`FIGURES`) of a fit."""
    from scalefit.errors import UsageError

    if kind not in FIGURES:
        raise UsageError(f"unknown figure kind {kind!r}", where="--kind",
                         hint=f"one of {', '.join(FIGURES)}")
    return FIGURES[kind](result, ax=ax, **kw)


def save(ax, path, *, dpi: int = 150):
    """Write the figure holding ``ax`` (an Axes, an array of them or a Figure) to ``path``;
    the format follows the suffix (.png, .svg, .pdf). The figure is closed afterwards."""
    from pathlib import Path

    from scalefit.errors import UsageError

    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise UsageError(f"cannot write a figure as {p.suffix or 'a file without a suffix'!r}",
                         where=str(p), hint="use .png, .svg or .pdf")
    fig = ax if hasattr(ax, "savefig") else np.ravel(ax)[0].figure
    with atomic_path(p) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    headless_pyplot().close(fig)
    return p


def _metadata(fmt: str) -> dict:
    # no creation date: the same fit gives the same file
    if fmt == "png":
        return {"Software": "scalefit"}
    if fmt == "svg":
        return {"Date": None, "Creator": "scalefit"}
    return {"CreationDate": None, "Creator": "scalefit"}
