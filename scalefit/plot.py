"""Figures of fits. Headless (matplotlib's Agg backend); every function returns its Axes.

Colours come from the Okabe-Ito palette, which stays distinct under the common colour-vision
deficiencies.
"""

from __future__ import annotations

import numpy as np

# the conventions every figure module shares (palette, backend, axes) live one layer down
from scalefit.figstyle import (
    PALETTE,
    add_grid,
    add_legend,
    budget_colours,
    headless_pyplot,
    new_axes,
)
from scalefit.files import atomic_path

__all__ = ["forecast", "PALETTE"]

_AXIS_LABELS = {"C": "training compute C (FLOPs)", "N": "non-embedding parameters N",
                "D": "training tokens D"}


def _compute_of(inputs: dict, x: str | None = None) -> float | None:
    if x is not None:
        return float(inputs[x]) if x in inputs else None
    if "C" in inputs:
        return float(inputs["C"])
    if "N" in inputs and "D" in inputs:
        return 6.0 * float(inputs["N"]) * float(inputs["D"])
    return None


def forecast(result, ax=None, *, n_grid: int = 120, title: str | None = None):
    """Loss against training compute: the data, the fitted compute-optimal frontier with its
    bootstrap band, held-out runs, and the requested predictions with their intervals.

    For a law without a compute-optimal allocation whose only input is x (C, N, D or another),
    the loss is drawn against x with the fitted curve L(x) instead of the frontier.
    """
    plt = headless_pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    law = result.law_
    ds = _fit_dataset(result, required=False)
    # a one-input law is drawn against its own input; otherwise against compute
    x_in = law.input_names[0] if len(law.input_names) == 1 else None
    cs: list[float] = []
    if ds is not None:
        comp = np.asarray(ds.X[x_in], float) if x_in else ds.compute()
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
        c = _compute_of(p.get("inputs", {}), x_in)
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
    elif x_in is not None:
        pr = result.predict(**{x_in: grid})
        ax.plot(grid, pr.value, color=PALETTE["blue"], lw=2, label=f"{law.name} fit", zorder=4)
        if pr.lo is not None:
            ax.fill_between(grid, pr.lo, pr.hi, color=PALETTE["blue"], alpha=0.18, lw=0,
                            label=f"{int(round(100 * result.level))}% band", zorder=1)

    first = True
    for p in result.predictions:
        c = _compute_of(p.get("inputs", {}), x_in)
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
    if x_in is None:
        ax.set_xlabel(_AXIS_LABELS["C"])
    else:
        doc = next(i.doc for i in law.inputs if i.name == x_in)
        ax.set_xlabel(_AXIS_LABELS.get(x_in, f"{doc} ({x_in})"))
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
    return ds.compute(), np.asarray(ds.X["N"], float), np.asarray(ds.y, float), names, ds.metric


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
        ax.scatter(N[sel], y[sel], s=18, color=col, alpha=0.85, edgecolors="none", zorder=2,
                   label=f"C = {_fmt(c)} FLOPs")
        row = minima.iloc[int(np.argmin(np.abs(np.log(minima["C"].to_numpy()) - np.log(c))))]
        if akima and np.isfinite(row["N_opt"]):
            from scipy.interpolate import Akima1DInterpolator

            ux, uy = lowest_per_size(np.log(N[sel]), y[sel])
            xs = np.linspace(ux[0], ux[-1], 200)
            ax.plot(np.exp(xs), np.exp(Akima1DInterpolator(ux, np.log(uy))(xs)), color=col,
                    lw=1.3, zorder=3, ls="-" if row["used"] else ":")
            ax.plot([row["N_opt"]], [row["loss"]], marker="*", ms=12, color=col,
                    mec=PALETTE["black"], mew=0.7, ls="none", zorder=4,
                    label="minimum (median of noisy redraws)")
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
                label="minimum (parabola vertex)" if row["used"] else
                "minimum not bracketed (unused)")
    ax.plot([], [], color=PALETTE["black"], lw=1.3,
            label="Akima interpolation in log N" if akima else "parabola in log N")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel(f"final {metric} (nats)" if "loss" in metric else f"final {metric}")
    ax.set_title(title or f"IsoFLOP profiles: N_opt = {iso.k:.3g}·C^{iso.a:.3f} "
                 f"(± {iso.a_se:.3f})", fontsize=10)
    add_grid(ax)
    add_legend(ax, legend)
    return ax


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
            comp = ds.compute()
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
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("compute-optimal N (parameters) and D (tokens)")
    a = result.derived.get("a", {}).get("value")
    b = result.derived.get("b", {}).get("value")
    exps = f": N_opt ∝ C^{a:.3f}, D_opt ∝ C^{b:.3f}" if a is not None and b is not None else ""
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
    comp = ds.compute()
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
    pts = bt.get("points") or []
    if pts:
        bc = np.array([_compute_of(p["inputs"]) or np.nan for p in pts], float)
        br = np.log([p["value"] for p in pts]) - np.log([p["pred"] for p in pts])
        ax.scatter(bc, br, s=30, marker="x", color=PALETTE["orange"], zorder=5,
                   label=f"held-out runs, backtest ({bt.get('holdout')})")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel(f"log residual ln {result.metric} − ln predicted")
    lim = float(np.nanmax(np.abs(np.concatenate([r, br if pts else []])))) * 1.1 or 1e-3
    ax.set_ylim(-lim, lim)
    ax.set_title(title or f"{law.name} residuals", fontsize=10)
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
    ax.set_xlabel(f"{a}")
    ax.set_ylabel(f"{b}")
    ax.set_title(title or f"{result.law_.name}: bootstrap of {a} and {b} "
                 f"(resampling runs)", fontsize=10)
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
                ax.set_xlabel(names[j], fontsize=9)
            if c == 0 and r > 0:
                ax.set_ylabel(names[i], fontsize=9)
    fig.suptitle(f"{result.law_.name}: bootstrap over runs ({int(ok.sum())} fits); "
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
