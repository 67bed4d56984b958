"""One report of a store and its fits: a self-contained HTML page or Markdown with figures.

The HTML file embeds its figures (base64 PNG, or SVG as data URIs), carries its own style sheet
and needs no JavaScript and nothing from the network, so it can be mailed or attached to a
design doc as it is. The Markdown version writes its figures into a folder beside it. Every
piece of user text (run names, metrics, law options, sources) is escaped.

>>> import scalefit
>>> from scalefit.report import build_report
>>> res = scalefit.fit("data/chinchilla.csv", bootstrap=200)  # doctest: +SKIP
>>> build_report("runs/", [res], "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scalefit.errors import ScalefitError, UsageError
from scalefit.files import atomic_path, atomic_write_text
from scalefit.html import esc
from scalefit.summary import fmt
from scalefit.version import __version__

__all__ = ["build_report", "Report"]

_MAX_RUN_ROWS = 200  # longer run tables are cut (the report says how many are left out)


# ---------------------------------------------------------------------- document model
@dataclass
class _Fig:
    caption: str
    fig: object  # a matplotlib Figure
    name: str


@dataclass
class _Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # right-aligned columns


@dataclass
class Report:
    """Blocks of a report: ("h2"|"h3", text), ("p", text), ("code", text),
    ("ul", [text], css class), _Table, _Fig. Rendered by :meth:`html` or :meth:`markdown`."""

    title: str
    blocks: list = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        """Add a heading of ``level`` (2 or 3)."""
        self.blocks.append((f"h{level}", text))

    def p(self, text: str) -> None:
        """Add a paragraph."""
        self.blocks.append(("p", text))

    def code(self, text: str) -> None:
        """Add a preformatted block."""
        self.blocks.append(("code", text))

    def ul(self, items: Sequence[str], cls: str = "") -> None:
        """Add a bulleted list (nothing for an empty one); ``cls`` is its CSS class in HTML."""
        if items:
            self.blocks.append(("ul", list(items), cls))

    def table(self, headers, rows, numeric=()) -> None:
        """Add a table of ``str`` cells; ``numeric`` are the indices of right-aligned columns."""
        self.blocks.append(_Table(list(headers), [list(map(str, r)) for r in rows], set(numeric)))

    def figure(self, caption: str, ax_or_fig, name: str) -> None:
        """Add a matplotlib figure (or the figure of an axes, or of an array of axes);
        ``name`` names its file in the Markdown version."""
        fig = ax_or_fig if hasattr(ax_or_fig, "savefig") else np.ravel(ax_or_fig)[0].figure
        self.blocks.append(_Fig(caption, fig, name))

    # -------------------------------------------------------------- HTML
    def html(self, *, figure_format: str = "png", dpi: int = 110) -> str:
        """The report as one self-contained HTML page: figures embedded in ``figure_format`` (png
        or svg) at ``dpi``, every text escaped. Closes the figures."""
        e = esc  # the one escaping path (scalefit.html): quotes included, any type
        body = [f"<h1>{e(self.title)}</h1>"]
        for b in self.blocks:
            if isinstance(b, _Table):
                head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
                rows = "".join(
                    "<tr>" + "".join(f"<td class='num'>{e(c)}</td>" if i in b.numeric
                                     else f"<td>{e(c)}</td>" for i, c in enumerate(r)) + "</tr>"
                    for r in b.rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif isinstance(b, _Fig):
                data, mime = _encode(b.fig, figure_format, dpi)
                w, h = (int(round(v * dpi)) for v in b.fig.get_size_inches())
                body.append(f"<figure><img src='data:{mime};base64,{data}' width='{w}' "
                            f"height='{h}' alt='{e(b.caption)}'>"
                            f"<figcaption>{e(b.caption)}</figcaption></figure>")
                _close(b.fig)
            elif b[0] == "ul":
                cls = f" class='{e(b[2])}'" if b[2] else ""
                body.append(f"<ul{cls}>" + "".join(f"<li>{e(t)}</li>" for t in b[1]) + "</ul>")
            elif b[0] == "code":
                body.append(f"<pre>{e(b[1])}</pre>")
            else:
                body.append(f"<{b[0]}>{e(b[1])}</{b[0]}>")
        return (
            "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">\n"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
            f"<meta name='generator' content='scalefit {e(__version__)}'>\n"
            f"<title>{e(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")

    # -------------------------------------------------------------- Markdown
    def markdown(self, fig_dir: Path, rel: str, *, figure_format: str = "png",
                 dpi: int = 110) -> str:
        """The report as Markdown; figures are written to ``fig_dir`` and linked as
        ``rel/<name>.<figure_format>``. Closes the figures."""
        out = [f"# {_md(self.title)}", ""]
        fig_dir.mkdir(parents=True, exist_ok=True)
        for b in self.blocks:
            if isinstance(b, _Table):
                out.append("| " + " | ".join(_md(h) for h in b.headers) + " |")
                out.append("|" + "|".join("---:" if i in b.numeric else "---"
                                          for i in range(len(b.headers))) + "|")
                for r in b.rows:
                    out.append("| " + " | ".join(_md(c) for c in r) + " |")
            elif isinstance(b, _Fig):
                fname = f"{b.name}.{figure_format}"
                with atomic_path(fig_dir / fname) as tmp:
                    b.fig.savefig(tmp, format=figure_format, dpi=dpi,
                                  metadata=_meta(figure_format))
                _close(b.fig)
                out.append(f"![{_md(b.caption)}]({rel}/{fname})")
                out.append("")
                out.append(f"*{_md(b.caption)}*")
            elif b[0] == "ul":
                out.extend(f"- {_md(t)}" for t in b[1])
            elif b[0] == "code":
                out.append("```")
                out.append(b[1].replace("```", "'''"))
                out.append("```")
            else:
                out.append({"h2": "## ", "h3": "### "}.get(b[0], "") + _md(b[1]))
            out.append("")
        return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.9em}
th,td{border:1px solid #d0d0d0;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}img{max-width:100%;height:auto}figcaption{font-size:.85em;color:#444}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}ul.warn li{color:#9a3b00}
""".replace("\n", "")

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text: str) -> str:
    """User text for Markdown: HTML-escaped (raw HTML is allowed there) and with Markdown's
    punctuation backslash-escaped, on one line."""
    t = esc(text).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", t)


def _meta(fmt: str) -> dict:
    return {"png": {"Software": "scalefit"}, "svg": {"Date": None},
            "pdf": {"CreationDate": None}}.get(fmt, {})


def _encode(fig, fmt: str, dpi: int) -> tuple[str, str]:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=_meta(fmt))
    mime = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
    return base64.b64encode(buf.getvalue()).decode("ascii"), mime


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


# ---------------------------------------------------------------------- formatting
_g = fmt  # numbers in tables and text: the summaries' format


def _pct(x) -> str:
    return "-" if x is None or not math.isfinite(float(x)) else f"{100 * float(x):.2f}%"


# ---------------------------------------------------------------------- sections
def _data_section(rep: Report, store) -> None:
    rep.h(2, "Data")
    summ = store.summary()
    n_runs, n_pts = len(summ), int(summ["n_points"].sum()) if len(summ) else 0
    where = store.path or "in memory"
    rep.p(f"Store {where}: {n_runs} runs, {n_pts} points; metrics: "
          f"{', '.join(store.metrics()) or 'none'}.")
    if not n_runs:
        return
    cols = [("run", "run"), ("params", "N (params)"), ("tokens_total", "D (tokens)"),
            ("flops_total", "C (FLOPs)"), ("n_points", "points"), ("schedule", "schedule"),
            ("source", "source")]
    cols = [(c, h) for c, h in cols if c in summ.columns and (c in ("run", "n_points")
                                                           or summ[c].notna().any())]
    rows = []
    for _, r in summ.head(_MAX_RUN_ROWS).iterrows():
        rows.append([_g(r[c]) if c in ("params", "tokens_total", "flops_total")
                     else ("" if _isna(r[c]) else str(r[c])) for c, _ in cols])
    numeric = {i for i, (c, _) in enumerate(cols)
               if c in ("params", "tokens_total", "flops_total", "n_points")}
    rep.table([h for _, h in cols], rows, numeric)
    if n_runs > _MAX_RUN_ROWS:
        rep.p(f"… and {n_runs - _MAX_RUN_ROWS} more runs.")
    try:
        rep.figure("The runs: each run's final value of its loss against training compute "
                   "(curves: the logged metric against step).", _overview(store), "data")
    except Exception:  # noqa: BLE001 (a data set without compute or curves has no overview)
        pass


def _isna(v) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # a list-valued cell
        return False


def _overview(store):
    from scalefit.figstyle import (
        PALETTE,
        add_grid,
        add_legend,
        metric_label,
        new_axes,
        readable_log_axis,
        run_compute,
    )
    from scalefit.fitting.dataset import build_dataset, choose_metric
    from scalefit.laws import get_law

    pts = store.points
    metric = choose_metric(pts, None)
    sel = pts[pts["metric"] == metric]
    curves = sel["step"].notna().any() and sel.groupby("run").size().max() > 2
    ax = new_axes(None)
    if curves:
        from scalefit.figstyle import budget_colours

        runs = list(dict.fromkeys(sel["run"].tolist()))[:12]
        for col, run in zip(budget_colours(len(runs)), runs, strict=True):
            s = sel[sel["run"] == run]
            ax.plot(s["step"].astype("float64"), s["value"], color=col, lw=1.2, label=run)
        ax.set_xlabel("step")
        ax.set_yscale("log")
    else:
        ds = build_dataset(store, get_law("chinchilla"), metric=metric)
        comp, xlabel = run_compute(ds)  # the compute every figure of these runs uses
        ax.scatter(comp, ds.y, s=14, color=PALETTE["blue"], edgecolors="none",
                   label=f"runs ({ds.n_runs})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
    ax.set_ylabel(metric_label(metric))
    ax.set_title(f"{metric} of the stored runs", fontsize=10)
    ax.set_ylim(*ax.get_ylim())  # fixed, so the tick labels below stay where they are
    readable_log_axis(ax, "y")
    add_grid(ax)
    add_legend(ax)
    return ax


def _param_rows(res) -> list[list[str]]:
    law = res.law_
    fixed = res.settings.get("fix") or {}
    at_bound = set(res.diagnostics.get("at_bound") or [])
    rows = []
    for k in law.param_names:
        v = res.params_.get(k)
        lo, hi = (res.ci_ or {}).get(k, (None, None))
        se = res.stderr_.get(k)
        note = "fixed" if k in fixed else ("at a bound" if k in at_bound else "")
        rows.append([k, _g(v, 5), _g(lo), _g(hi), _g(se, 3), note])
    return rows


def _fit_section(rep: Report, res, i: int, notes: list[str]) -> None:
    from scalefit import plot

    law = res.law_
    rep.h(2, f"Fit {i}: {res.law}")
    rep.code(law.formula)
    boot = int(res.settings.get("bootstrap") or 0)
    level = int(round(100 * res.level))
    obj = (res.settings.get("objective") or {}).get("name", "")
    rep.p(f"Metric {res.metric}: {res.n_points} points from {res.n_runs} runs; objective "
          f"{obj} = {res.objective_:.6g}. Intervals: "
          + (f"{level}% percentiles of {boot} bootstrap refits resampling runs."
             if boot and res.ci_ else "delta-method standard errors (no bootstrap)."))
    rep.ul(notes, "warn")
    rep.h(3, "Parameters")
    rep.table(["parameter", "value", f"{level}% low", f"{level}% high", "s.e. (delta)", ""],
              _param_rows(res), {1, 2, 3, 4})
    if res.derived:
        rep.table(["derived", "value", f"{level}% low", f"{level}% high", "meaning"],
                  [[k, _g(d.get("value"), 5), _g(d.get("lo")), _g(d.get("hi")),
                    d.get("doc", "")] for k, d in res.derived.items()], {1, 2, 3})
    if res.predictions:
        rep.h(3, "Predictions")
        rows = []
        for p in res.predictions:
            ins = ", ".join(f"{k} = {_g(v, 3)}" for k, v in (p.get("inputs") or {}).items())
            extra = "; ".join(f"{k}_opt = {_g(p[k].get('value'), 3)} [{_g(p[k].get('lo'), 3)}, "
                              f"{_g(p[k].get('hi'), 3)}]" for k in ("N", "D")
                              if isinstance(p.get(k), dict))
            rows.append([p.get("label", res.metric), ins, _g(p.get("value"), 5),
                         _g(p.get("lo")), _g(p.get("hi")), extra])
        rep.table(["quantity", "at", "value", f"{level}% low", f"{level}% high",
                   "allocation"], rows, {2, 3, 4})
    _diagnostics(rep, res)
    if res.backtest:
        _backtest(rep, res)
    rep.h(3, "Figures")
    figs = [("forecast", "Loss against training compute: the runs, the fitted compute-optimal "
             "frontier with its band, held-out runs and the requested predictions with "
             "intervals.")]
    if res.dataset is not None:
        figs.append(("residuals", "Log residuals of the fit against compute; held-out runs "
                     "from the backtest refit."))
    if law.optimal(res.params_, 1e20) is not None:
        figs.append(("optimal", "Compute-optimal parameters and tokens against compute, with "
                     "bootstrap bands."))
    if res.samples is not None and len(res.samples):
        figs.append(("bootstrap", "Bootstrap distribution of the most correlated pair of "
                     "parameters."))
    for kind, caption in figs:
        try:
            rep.figure(caption, plot.figure(res, kind), f"fit{i}-{kind}")
        except ScalefitError as exc:
            rep.p(f"No {kind} figure: {exc}")


def _diagnostics(rep: Report, res) -> None:
    d = res.diagnostics or {}
    rep.h(3, "Diagnostics")
    rep.ul([f"warning: {w}" for w in d.get("warnings", [])], "warn")
    items = []
    if "condition_number" in d:
        items.append(f"condition number of JᵀJ: {_g(d['condition_number'], 3)}")
    if "points_per_param" in d:
        items.append(f"points per free parameter: {_g(d['points_per_param'], 3)} "
                     f"({d.get('n_free', '?')} free)")
    r = d.get("residuals") or {}
    if r:
        items.append(f"log residuals: rms {_g(r.get('rms'), 3)}, max |r| "
                     f"{_g(r.get('max_abs'), 3)} (run {r.get('worst_run', '?')})")
    ms = d.get("multistart") or {}
    if ms:
        items.append(f"multi-start: {res.settings.get('n_starts', '?')} starts, best "
                     f"objectives spread {_g(ms.get('rel_range'), 2)} (relative)")
    b = d.get("bootstrap") or {}
    if b:
        items.append(f"bootstrap: {b.get('n')} refits, {_pct(b.get('converged_fraction'))} "
                     "converged")
    if "converged" in d:
        items.append("optimiser converged" if d["converged"] else "optimiser did NOT converge")
    items += [f"note: {n}" for n in d.get("notes", [])]
    rep.ul(items)


def _backtest(rep: Report, res) -> None:
    bt = res.backtest
    rep.h(3, "Backtest")
    rep.p(f"Refit without the largest runs ({bt.get('holdout')}: "
          f"{len(bt.get('heldout_runs') or [])} runs, {bt.get('n_heldout')} points) and "
          f"predicted them: mean relative error {_pct(bt.get('mean_rel_error'))}, max "
          f"{_pct(bt.get('max_rel_error'))}. This, not the in-sample fit, is the test of "
          "extrapolation.")
    pts = bt.get("points") or []
    if pts:
        rep.table(["held-out run", "inputs", "observed", "predicted", "relative error"],
                  [[p["run"], ", ".join(f"{k} = {_g(v, 3)}" for k, v in p["inputs"].items()),
                    _g(p["value"], 5), _g(p["pred"], 5), _pct(p["rel_error"])]
                   for p in pts[:50]], {2, 3, 4})
    if bt.get("ranking"):
        rep.table(["law", "mean rel. error", "max rel. error", "note"],
                  [[r.get("label") or r["law"], _pct(r.get("mean_rel_error")) if r.get("mean_rel_error") is not None
                    else "-", _pct(r.get("max_rel_error")) if r.get("max_rel_error") is not None
                    else "-", r.get("error", "")] for r in bt["ranking"]], {1, 2})


def _curve_section(rep: Report, res, i: int) -> None:
    rep.h(2, f"Fit {i}: loss curves, {res.law}")
    law = res.law_obj
    rep.code(getattr(law, "formula", res.law))
    rep.p(f"{len(res.curves)} curve(s), {res.n_points} points; objective {res.objective:.6g}.")
    rep.table(["parameter", "value"], [[k, _g(v, 6)] for k, v in res.params.items()], {1})
    fe = (res.diagnostics or {}).get("fit_errors") or {}
    if fe:
        rep.table(["curve", "mean rel. error", "max rel. error"],
                  [[k, _pct(e.get("mean_rel")), _pct(e.get("max_rel"))] for k, e in fe.items()],
                  {1, 2})
    try:
        from scalefit.plot import curves_figure

        rep.figure("Observed and predicted loss curves.", curves_figure(res), f"fit{i}-curves")
    except Exception as exc:  # noqa: BLE001 (the curve figure needs the curves' data)
        # the error's own hint names options of other commands; say what works from here
        why = exc.message if isinstance(exc, ScalefitError) else str(exc)
        where = f"{exc.where}: " if isinstance(exc, ScalefitError) and exc.where else ""
        rep.p(f"No curve figure: {where}{why}. Draw it with `scalefit plot FIT.json "
              "--kind curves --data CURVE.csv` (one --data per curve file).")


def _isoflop_section(rep: Report, store) -> None:
    """IsoFLOP profiles when the store holds several runs at each of several budgets."""
    from scalefit import plot
    from scalefit.fitting.isoflop import isoflop

    try:
        C, N, y, _, _ = plot._final_arrays(store)
        key = np.round(np.log10(C), 4)
        _, counts = np.unique(key, return_counts=True)
        if (counts >= 3).sum() < 2:
            return
        iso = isoflop(C=C, N=N, loss=y)
    except ScalefitError:
        return
    rep.h(2, "IsoFLOP profiles (approach 2)")
    rep.p(iso.summary().heading())
    m = iso.minima
    rep.table(["budget C (FLOPs)", "N_opt", "D_opt", "min loss", "runs", "used"],
              [[_g(r["C"], 3), _g(r["N_opt"], 3), _g(r["D_opt"], 3), _g(r["loss"], 4),
                str(int(r["n_points"])), "yes" if r["used"] else "no"]
               for _, r in m.iterrows()], {0, 1, 2, 3, 4})
    rep.figure("Final loss against parameters at each compute budget, the parabola fitted "
               "to the bottom of each profile, and its minimum.",
               plot.isoflop(store, result=iso), "isoflop")


# ---------------------------------------------------------------------- entry point
def _as_store(store):
    from scalefit.store import Store

    if store is None or isinstance(store, Store):
        return store
    return Store(store, create=False)


def _plan_section(rep: Report, plan) -> None:
    from scalefit.planning import plot_plan

    level = int(round(100 * plan.level))
    rep.h(2, "Run plan")
    rep.p("Sources: " + "; ".join(f"{k}: {s['label']} ({s['source']})"
                                  for k, s in plan.sources.items()))
    iv = lambda ci: "" if ci is None else f"[{_g(ci[0], 3)}, {_g(ci[1], 3)}]"  # noqa: E731
    rep.table(["budget (FLOPs)", "N", f"N {level}%", "D", f"D {level}%", "loss", f"loss {level}%",
               "peak LR", "batch (tokens)", "schedule"],
              [[_g(p.budget, 3), _g(p.N, 3), iv(p.N_ci), _g(p.D, 3), iv(p.D_ci), _g(p.loss),
                iv(p.loss_ci), _g(p.lr, 3), _g(p.batch_tokens, 3), p.schedule]
               for p in plan.plans], {0, 1, 3, 5, 7, 8})
    rep.ul([f"{_g(p.budget, 3)}: {n}" for p in plan.plans for n in p.notes] + plan.notes, "warn")
    rep.figure("Compute-optimal N and D against budget with the planned points and their "
               "intervals; the predicted loss curve of each plan.", plot_plan(plan), "plan")


def _as_fit(f):
    if isinstance(f, (str, os.PathLike)):
        from scalefit.result import load_artefact

        return load_artefact(str(f))
    return f


def build_report(store=None, fits: Iterable = (), out: str | os.PathLike = "report.html", *,
                 title: str | None = None, figure_format: str | None = None,
                 dpi: int = 110, plan=None) -> Path:
    """Write a report of ``store`` (a :class:`~scalefit.store.Store` or its folder; may be
    None) and ``fits`` (FitResults, curve fit results, or paths to fit artefacts) to ``out``.

    ``out`` ending in ``.html``/``.htm`` gives one self-contained page; ``.md`` gives Markdown
    with the figures in a folder ``<name>_files`` beside it. ``figure_format`` is ``png``
    (default) or ``svg``. Fits read from JSON get their points back from the store when the
    store holds the data they were fitted to. ``plan``: a :class:`~scalefit.planning.PlanResult`
    to add as a section. Returns the path written.
    """
    from scalefit.figstyle import headless_pyplot

    headless_pyplot()  # headless backend before any figure
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".md", ".markdown"):
        raise UsageError(f"cannot write a report as {out.suffix or 'a file without a suffix'!r}",
                         where=str(out), hint="use report.html or report.md")
    fmt = (figure_format or "png").lower()
    if fmt not in ("png", "svg"):
        raise UsageError(f"figure format {fmt!r} not supported in reports", where="figure_format",
                         hint="png or svg")
    st = _as_store(store)
    fits = [_as_fit(f) for f in fits]
    if st is None and not fits:
        raise UsageError("nothing to report: give a store and/or fits", where="report")
    rep = Report(title or ("scalefit report" + (f": {st.path}" if st is not None and st.path
                                                 else "")))
    rep.p(f"Written by scalefit {__version__}. Intervals are percentile intervals of bootstrap "
          "refits resampling whole runs, unless marked as delta-method standard errors.")
    if st is not None:
        _data_section(rep, st)
        _isoflop_section(rep, st)
    for i, res in enumerate(fits, 1):
        if getattr(res, "kind", None) == "curve":
            _curve_section(rep, res, i)
            continue
        notes = []
        if res.dataset is None and st is not None:
            notes = _reattach(res, st)
        elif res.dataset is None and (res.settings or {}).get("data"):
            notes = _reattach(res, None)  # the data the artefact records it was made from
        _fit_section(rep, res, i, notes)
    if plan is not None:
        _plan_section(rep, plan)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".html", ".htm"):
        text = rep.html(figure_format=fmt, dpi=dpi)
    else:
        rel = f"{out.stem}_files"
        text = rep.markdown(out.parent / rel, rel, figure_format=fmt, dpi=dpi)
    atomic_write_text(out, text)
    return out


def _reattach(res, store) -> list[str]:
    from scalefit.artefacts import attach_data

    try:
        notes = attach_data(res, store)
    except ScalefitError as exc:
        why = f"{exc.where}: {exc.message}" if exc.where else exc.message
        return [f"the fit's data could not be rebuilt ({why}); figures show the fit without "
                "its points (pass its store with --store DIR, or draw a figure with "
                "`scalefit plot FIT.json --data FILE`)"]
    if notes:
        res.dataset = None
        return [notes[0] + "; figures show the fit without its points"]
    return []
