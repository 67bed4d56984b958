"""What every figure shares: the colour palette, the headless backend, axes, legends, grids.

The lowest layer of the figure code: :mod:`scalefit.plot`, :mod:`scalefit.curves.plot` and the
report draw with these, and this module imports none of them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["COMPUTE_LABELS", "FIGSIZE", "PALETTE", "SEQ_CMAP", "add_grid", "add_legend",
           "budget_colours", "headless_pyplot", "mathtext", "metric_label", "new_axes",
           "padded_limits", "readable_log_axis", "run_compute"]

#: Okabe & Ito (2008) colour-blind-safe palette
PALETTE = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
           "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}


def headless_pyplot():
    """``matplotlib.pyplot``, on the Agg backend unless the notebook's inline backend (or one
    that cannot be switched) is in use."""
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
    """``ax``, or the axes of a new figure of ``figsize`` (inches) when ``ax`` is None."""
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
    """A light grid at major and minor ticks."""
    ax.grid(True, which="both", alpha=0.25, lw=0.5)


def budget_colours(n: int):
    """``n`` colours along the sequential colour map, dark to light (one per compute budget)."""
    plt = headless_pyplot()
    cmap = plt.get_cmap(SEQ_CMAP)
    return [cmap(v) for v in (np.linspace(0.0, 0.9, n) if n > 1 else [0.0])]


# ---------------------------------------------------------------------- compute, labels, axes
#: x-axis label of each definition of a run's compute
COMPUTE_LABELS = {"flops": "training compute C (logged FLOPs)",
                  "6ND": "training compute C = 6ND (FLOPs)",
                  "C": "training compute C (FLOPs)"}


def run_compute(ds) -> tuple[np.ndarray, str]:
    """Each point's training compute and the axis label naming its definition, the same in
    every figure of the same data: the logged FLOPs when every point has them, else 6·N·D, else
    the law's own ``C`` input (else its largest input, as :meth:`Dataset.compute`)."""
    fl = getattr(ds, "flops", None)
    if fl is not None:
        fl = np.asarray(fl, float)
        if fl.size == ds.n and np.all(np.isfinite(fl) & (fl > 0)):
            return fl, COMPUTE_LABELS["flops"]
    if "N" in ds.X and "D" in ds.X:
        return 6.0 * np.asarray(ds.X["N"], float) * np.asarray(ds.X["D"], float), \
            COMPUTE_LABELS["6ND"]
    if "C" in ds.X:
        return np.asarray(ds.X["C"], float), COMPUTE_LABELS["C"]
    return ds.compute(), "training compute (largest input)"


def metric_label(metric: str | None) -> str:
    """An axis label with the unit for a metric id: ``val/loss`` -> "validation loss
    (nats/token)"; unknown metrics keep their id."""
    m = (metric or "loss").strip()
    low = m.lower()
    if any(k in low for k in ("bpb", "bits_per_byte", "bits-per-byte", "bits per byte")):
        return f"{m} (bits/byte)"
    if "ppl" in low or "perplexity" in low:
        return f"{m} (perplexity)"
    if "acc" in low:
        return f"{m} (accuracy)"
    if "loss" in low or "crossentropy" in low or low in ("nll", "ce"):
        split = ("training" if "train" in low else
                 "validation" if any(k in low for k in ("val", "eval", "valid", "test")) else "")
        what = f"{split} loss".strip() if split else "loss"
        ident = "" if low in ("loss", "val/loss", "train/loss", "eval/loss") else f" {m}"
        return f"{what}{ident} (nats/token)"
    return m


_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
          "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega"}
_FUNCS = {"exp", "log", "ln", "sum", "prod", "min", "max", "sin", "cos"}


def _math_tokens(s: str) -> list[str]:
    import re

    return re.findall(r"[A-Za-z][A-Za-z0-9]*'*|\d+\.?\d*|\S", s)


def _math_ident(tok: str) -> str:
    base = tok.rstrip("'")
    prime = tok[len(base):]
    if base in _GREEK:
        return "\\" + base + prime
    if base in _FUNCS:
        return "\\" + base + prime
    if base == "inf":
        return "\\infty"
    return tok


def _math_expr(toks: list[str], i: int, stop: str | None) -> tuple[str, int]:
    out: list[str] = []
    while i < len(toks):
        t = toks[i]
        if stop is not None and t == stop:
            return "".join(out), i + 1
        if t in "^_" and i + 1 < len(toks):
            nxt = toks[i + 1]
            if nxt == "(":
                inner, i = _math_expr(toks, i + 2, ")")
            else:
                neg = nxt == "-" and i + 2 < len(toks)
                j = i + 2 + neg
                inner = ("-" if neg else "") + _math_ident(toks[j - 1])
                # an exponent's own subscript stays in it: N^alpha_N is N^{alpha_N}
                if t == "^" and j + 1 < len(toks) and toks[j] == "_":
                    inner += f"_{{{_math_ident(toks[j + 1])}}}"
                    j += 2
                i = j
            out.append(f"{t}{{{inner.strip()}}}")
            continue
        if t == "(":
            inner, i = _math_expr(toks, i + 1, ")")
            out.append(f"({inner})")
            continue
        if t == "*":
            ends = i + 1 >= len(toks) or toks[i + 1] in ")],;/"
            out.append("^{*}" if ends else "\\cdot ")
        elif t in ",;":
            out.append(t + "\\;")
        elif t in "=+-":
            out.append(f" {t} ")
        elif t[0].isalpha():
            out.append(_math_ident(t) + (" " if t in _FUNCS else ""))
        else:
            out.append(t)
        i += 1
    return "".join(out), i


def mathtext(formula: str) -> str:
    """A law's ASCII formula (``L = E + A/N^alpha + B/D^beta``) as matplotlib mathtext
    (``$L = E + A/N^{\\alpha} + B/D^{\\beta}$``), one ``$...$`` per ``;``-separated part; the
    ASCII text when mathtext cannot typeset it."""
    from matplotlib.mathtext import MathTextParser

    parts = [p.strip() for p in str(formula).split(";") if p.strip()]
    try:
        out = []
        parser = MathTextParser("path")
        for p in parts:
            tex = "$" + " ".join(_math_expr(_math_tokens(p), 0, None)[0].split()) + "$"
            parser.parse(tex)  # raises on what mathtext cannot typeset
            out.append(tex)
        return "; ".join(out)
    except Exception:  # noqa: BLE001 (any parse failure: fall back to the plain formula)
        return str(formula)


def param_label(name: str) -> str:
    """A parameter's name for an axis: Greek names as symbols (``alpha`` -> α), others as
    they are."""
    base = str(name)
    return f"$\\{base}$" if base in _GREEK else base


def readable_log_axis(ax, which: str = "y", nbins: int = 8) -> None:
    """Tick labels a reader can use on a log axis spanning few decades: 4-7 plain numbers
    (1.8, 2, 2.5, 3 ...) instead of one or two powers of ten. Call after the limits are final."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())
    if not (lo > 0 and hi / lo < 100.0):
        return
    ticks = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    ticks = [t for t in ticks if lo <= t <= hi and t > 0]
    if len(ticks) < 3:
        return
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def padded_limits(values, margin: float = 0.08, log: bool = True) -> tuple[float, float]:
    """(lo, hi) around the finite ``values`` with ``margin`` of their span on each side (in log
    space for a log axis)."""
    v = np.asarray([x for x in np.ravel(values) if x is not None], float)
    v = v[np.isfinite(v) & ((v > 0) if log else True)]
    if not v.size:
        return (1.0, 10.0) if log else (0.0, 1.0)
    if log:
        a, b = np.log(v.min()), np.log(v.max())
        pad = margin * max(b - a, 0.05)
        return float(np.exp(a - pad)), float(np.exp(b + pad))
    a, b = float(v.min()), float(v.max())
    pad = margin * max(b - a, 1e-3 * max(abs(a), 1.0))
    return a - pad, b + pad
