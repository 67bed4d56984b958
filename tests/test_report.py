"""The report: one self-contained HTML page (checked in headless Chromium) and Markdown."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import pytest  # noqa: E402
from _browser import HAVE_CHROMIUM, SKIP_REASON, chromium_page  # noqa: E402

import scalefit  # noqa: E402
import scalefit.cli.report  # noqa: E402, F401  (registers `scalefit report`)
from scalefit.cli import run  # noqa: E402
from scalefit.report import build_report  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A store of the Chinchilla runs with one run renamed to a script tag, a fit, reports."""
    tmp = tmp_path_factory.mktemp("report")
    logs = scalefit.read_logs(DATA / "chinchilla.csv")
    runs, pts = logs.runs.copy(), logs.points.copy()
    runs["run"] = runs["run"].replace("chinchilla-3", EVIL)
    pts["run"] = pts["run"].replace("chinchilla-3", EVIL)
    store = scalefit.Store(tmp / "store")
    store.add(runs=runs, points=pts)
    res = scalefit.fit(store, "chinchilla", bootstrap=60, seed=1, holdout="largest:4",
                       predict={"N": 70e9, "D": 1.4e12}, optimal=[1e24])
    fit_json = tmp / "fit.json"
    res.to_json(fit_json)
    out = tmp / "report.html"
    assert run(["report", "--store", str(tmp / "store"), "--fit", str(fit_json),
                "-o", str(out), "--title", "Chinchilla & <friends>"]) == 0
    md = build_report(tmp / "store", [fit_json], tmp / "md" / "report.md")
    return {"tmp": tmp, "res": res, "html": out, "md": md, "fit_json": fit_json}


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(text: str) -> list[tuple[str, dict]]:
    p = _Collect()
    p.feed(text)
    return p.tags


@pytest.mark.slow
def test_html_is_self_contained_and_escaped(made):
    text = made["html"].read_text(encoding="utf-8")
    tags = _parse(text)
    names = [t for t, _ in tags]
    assert "script" not in names and "link" not in names and "iframe" not in names
    # nothing from the network: every src and href is a data: URI
    for _, attrs in tags:
        for k in ("src", "href"):
            if k in attrs:
                assert attrs[k].startswith("data:"), attrs[k][:60]
    assert "http://" not in text and "https://" not in text
    # the run name and the title are text, escaped once
    assert html.escape(EVIL) in text and EVIL not in text
    assert "<title>Chinchilla &amp; &lt;friends&gt;</title>" in text
    # figures: data overview, forecast, residuals, optimal, bootstrap; each a PNG of its size
    imgs = [a for t, a in tags if t == "img"]
    assert len(imgs) == 5
    for a in imgs:
        m = re.fullmatch(r"data:image/png;base64,(.+)", a["src"], re.S)
        assert m and a["alt"]
        img = mpimg.imread(io.BytesIO(base64.b64decode(m.group(1))), format="png")
        assert img.shape[:2] == (int(a["height"]), int(a["width"]))


@pytest.mark.slow
def test_html_tables_hold_the_fit(made):
    res, text = made["res"], made["html"].read_text(encoding="utf-8")
    from scalefit.report import _g

    # parameter rows: value and both ends of the bootstrap interval
    for k, v in res.params_.items():
        lo, hi = res.ci_[k]
        row = (f"<tr><td>{k}</td><td class='num'>{_g(v, 5)}</td><td class='num'>{_g(lo)}</td>"
               f"<td class='num'>{_g(hi)}</td>")
        assert row in text, k
    assert "95% low" in text and "60 bootstrap refits" in text
    # the 70B prediction with its interval
    p = res.predictions[0]
    assert f"<td class='num'>{_g(p['value'], 5)}</td><td class='num'>{_g(p['lo'])}</td>" in text
    # backtest: the held-out runs with errors, and the mean error
    bt = res.backtest
    for name in bt["heldout_runs"]:
        assert f"<td>{html.escape(name)}</td>" in text
    assert f"{100 * bt['mean_rel_error']:.2f}%" in text
    # diagnostics
    assert "condition number" in text and "points per free parameter" in text
    assert f"{res.diagnostics['residuals']['rms']:.3g}" in text


@pytest.mark.slow
def test_markdown_with_figures_beside(made):
    md = made["md"]
    text = md.read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 5
    for link in links:
        assert link.startswith("report_files/") and not os.path.isabs(link)
        img = mpimg.imread(md.parent / link)
        assert img.shape[0] > 100 and img.shape[1] > 100
    assert EVIL not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "| parameter | value |" in text
    # table rows keep their column count even with a pipe in user text
    rows = [ln for ln in text.splitlines() if ln.startswith("| E |")]
    assert len(rows) == 1 and rows[0].count(" | ") == 5


@pytest.mark.slow
def test_report_without_matching_store_and_bad_suffix(made, tmp_path, capsys):
    # a fit of other data: reported, with a note that its points are not shown
    other = scalefit.fit(DATA / "samples" / "final_isoflop.csv", bootstrap=0)
    out = build_report(None, [other, made["fit_json"]], tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    assert text.count("<h2>Fit ") == 2 and "<img" in text
    assert run(["report", "--fit", str(made["fit_json"]), "-o", str(tmp_path / "r.pdf")]) == 2
    assert "report.html or report.md" in capsys.readouterr().err
    assert run(["report", "-o", str(tmp_path / "r.html")]) == 2
    assert "nothing to report" in capsys.readouterr().err


def test_report_of_an_isoflop_store(tmp_path):
    st = scalefit.Store(tmp_path / "iso")
    st.ingest(scalefit.read_logs(DATA / "samples" / "final_isoflop.csv"))
    out = build_report(st, [], tmp_path / "iso.html", figure_format="svg")
    text = out.read_text(encoding="utf-8")
    assert "IsoFLOP profiles" in text and text.count("data:image/svg+xml;base64,") == 2


# ---------------------------------------------------------------------- Chromium
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_CHROMIUM, reason=SKIP_REASON)
def test_report_in_headless_chromium(made):
    pytest.importorskip("websocket", reason="the CDP client needs websocket-client")
    with chromium_page(("Page", "Runtime", "Log", "Network")) as cdp:
        cdp.call("Page.navigate", url=made["html"].resolve().as_uri())
        cdp.wait("Page.loadEventFired")
        state = cdp.evaluate("""JSON.stringify({
            n: document.images.length,
            loaded: Array.from(document.images).map(i => i.complete && i.naturalWidth > 0),
            widths: Array.from(document.images).map(i => i.naturalWidth),
            scripts: document.scripts.length,
            evil: Array.from(document.querySelectorAll('td')).some(
                td => td.textContent === '<script>alert(1)</script>'),
            title: document.title})""")
        s = json.loads(state)
        assert s["n"] == 5 and all(s["loaded"]) and min(s["widths"]) > 100, s
        assert s["scripts"] == 0
        assert s["evil"], "the run name is not shown as text"
        assert s["title"] == "Chinchilla & <friends>"
        errors = [e for e in cdp.events
                  if e.get("method") == "Runtime.exceptionThrown"
                  or (e.get("method") == "Runtime.consoleAPICalled"
                      and e["params"].get("type") in ("error", "assert"))
                  or (e.get("method") == "Log.entryAdded"
                      and e["params"]["entry"].get("level") == "error")]
        assert not errors, errors
        requests = [e["params"]["request"]["url"] for e in cdp.events
                    if e.get("method") == "Network.requestWillBeSent"]
        assert all(u.startswith(("file:", "data:")) for u in requests), requests
