"""Saved fits as untrusted input: tampered artefacts through `predict`, `plot` and `report`.

Each tampered variant of a real chinchilla fit (with bootstrap) and of a real loss-curve fit
goes through the three commands; every outcome is classified as handled, a clear error, an
internal error, a hang, or a silently wrong answer (non-finite numbers, a value outside its own
interval, or exit 0 with a number that differs from the untampered fit's after a parameter was
made invalid). The tally is printed; internal errors, hangs and silent wrong answers must be 0.
HTML outputs of hostile but well-formed artefacts are opened in headless Chromium (when it is
installed) to check that no script in them runs.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import re
import signal
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _browser import HAVE_CHROMIUM, SKIP_REASON, chromium_page

import scalefit
import scalefit.cli.report  # noqa: F401  (registers `scalefit report`)
from scalefit.cli import run

# every test needs fitted artefacts and rendered pages (15-20 s to build): run with the slow tests
pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "data"
MP = DATA / "multipower" / "25M"
SCHEDULE = "wsd:peak=3e-4,warmup=2160,steps=24000,decay=0.2,final=3e-5"
AT = "N=7e10,D=1.4e12"
TIMEOUT_S = 30


class _Hang(Exception):
    pass


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("artefacts")
    res = scalefit.fit(DATA / "chinchilla.csv", "chinchilla", bootstrap=20, seed=0,
                       predict={"N": 7e10, "D": 1.4e12})
    chin = json.loads(res.to_json())
    mp = tmp / "mp.json"
    files = [str(MP / f"{n}.csv") for n in ("cosine_24000", "constant_24000", "wsdcon_9")]
    with contextlib.redirect_stdout(io.StringIO()):
        assert run(["fit", *files, "--law", "multi_power", "--json", str(mp)]) == 0
    fifo = tmp / "fifo.csv"
    os.mkfifo(fifo)
    return {"chin": chin, "curve": json.loads(mp.read_text()), "tmp": tmp, "fifo": str(fifo)}


# ---------------------------------------------------------------------- the variants
def _set(d: dict, path: str, value) -> dict:
    d = copy.deepcopy(d)
    keys = path.split(".")
    o = d
    for k in keys[:-1]:
        o = o[int(k)] if isinstance(o, list) else o.setdefault(k, {})
    last = keys[-1]
    if value is _DEL:
        o.pop(last, None)
    elif isinstance(o, list):
        o[int(last)] = value
    else:
        o[last] = value
    return d


_DEL = object()
_BAD_VALUES = {"null": None, "negative": -1.0, "huge": 1e300, "text": "abc", "list": [1.0],
               "object": {}, "bool": True, "zero": 0.0}


def _nested(n: int):
    out: list = []
    for _ in range(n):
        out = [out]
    return out


def variants(b: dict) -> list[tuple[str, str, object, bool]]:
    """(name, kind, artefact dict or raw text, a parameter made invalid)."""
    chin, cur, fifo = b["chin"], b["curve"], b["fifo"]
    out: list[tuple[str, str, object, bool]] = []
    add = out.append
    # parameters: wrong types, NaN, negative, huge, scaled far from the bootstrap
    for p in chin["params"]:
        for name, v in _BAD_VALUES.items():
            add((f"params.{p}={name}", "chin", _set(chin, f"params.{p}", v), True))
        add((f"params.{p}*1e6", "chin", _set(chin, f"params.{p}", chin["params"][p] * 1e6), True))
    add(("params missing E", "chin", _set(chin, "params.E", _DEL), True))
    add(("params extra", "chin", _set(chin, "params.Z", 1.0), True))
    add(("params list", "chin", _set(chin, "params", [1, 2, 3, 4, 5]), True))
    # a law whose parameters do not match, unknown laws, law options
    for law in ("power", "kaplan", "nosuch", "chinchilla:x=1", 5, None, "", "x" * 10_000):
        add((f"law={str(law)[:20]}", "chin", _set(chin, "law", law), True))
    # missing keys
    for k in ("law", "params", "objective", "n_points", "settings", "bootstrap", "diagnostics",
              "backtest", "ci", "predictions", "derived", "stderr", "schema"):
        add((f"missing {k}", "chin", _set(chin, k, _DEL), k in ("law", "params")))
    # wrong types and shapes elsewhere
    for path, v in [("n_points", -3), ("n_points", "many"), ("n_points", 1.5), ("objective", "x"),
                    ("ci", "x"), ("ci.E", [1.0]), ("ci.E", [2.0, 1.0]), ("ci.Q", [1, 2]),
                    ("stderr", []), ("predictions", "x"), ("predictions", [1]),
                    ("predictions.0.inputs", "x"), ("predictions.0.value", "x"),
                    ("derived", []), ("derived.a", 3), ("diagnostics", []),
                    ("diagnostics.warnings", "x"), ("diagnostics.warnings", [1]),
                    ("diagnostics.residuals", {"rms": "x"}), ("diagnostics.input_range.N", [5]),
                    ("diagnostics.input_range.N", [10.0, 1.0]), ("backtest", "x"),
                    ("backtest", {"points": [{"run": 1}]}), ("backtest", {"n_heldout": "<b>"}),
                    ("backtest", {"calibration": {"rate_per_decade": -1}}),
                    ("backtest", {"calibration": {"rate_per_decade": "x"}}),
                    ("backtest", {"calibration": {"upper": "x"}}),
                    ("settings", []), ("settings.level", 2), ("settings.level", "x"),
                    ("settings.fix", {"E": "x"}), ("settings.bounds", {"E": 3}),
                    ("settings.data_options", {"warmup_frac": "x"}), ("schema", 99),
                    ("schema", "1"), ("metric", 3), ("version", [])]:
        add((f"{path}={json.dumps(v)[:20]}", "chin", _set(chin, path, v), False))
    # bootstrap samples: ragged, wrong order, mismatched count, non-finite, huge, empty
    samples = chin["bootstrap"]["samples"]
    ragged = copy.deepcopy(samples)
    ragged[3] = ragged[3][:-1]
    for name, path, v in [("ragged", "bootstrap.samples", ragged),
                          ("text", "bootstrap.samples", "x"),
                          ("text rows", "bootstrap.samples", [["a"] * 5] * 3),
                          ("null cell", "bootstrap.samples.0", [None] * 5),
                          ("huge cell", "bootstrap.samples.0", [1e300] * 5),
                          ("reversed order", "bootstrap.param_order",
                           list(reversed(chin["bootstrap"]["param_order"]))),
                          ("n mismatch", "bootstrap.n", 3), ("empty", "bootstrap.samples", []),
                          ("list", "bootstrap", []),
                          ("shifted", "bootstrap.samples",
                           [[x * 3 for x in row] for row in samples])]:
        add((f"bootstrap {name}", "chin", _set(chin, path, v), name == "shifted"))
    # deep nesting, a huge file, NaN literals, not JSON at all
    add(("deep 100", "chin", _set(chin, "diagnostics.notes", _nested(100)), False))
    add(("deep 100000", "chin", json.dumps(chin)[:-1] + ', "x": ' + "[" * 100_000
         + "]" * 100_000 + "}", False))
    add(("huge file", "chin", json.dumps(chin) + " " * (65 * 2**20), False))
    add(("NaN literal", "chin", json.dumps(chin).replace(
        json.dumps(chin["params"]["E"]), "NaN", 1), True))
    add(("Infinity literal", "chin", json.dumps(chin).replace(
        json.dumps(chin["params"]["A"]), "Infinity", 1), True))
    add(("truncated", "chin", json.dumps(chin)[:500], False))
    add(("top-level list", "chin", "[1, 2, 3]", False))
    add(("empty file", "chin", "", False))
    add(("binary", "chin", "\x00\xff{", False))
    # recorded data: a FIFO, a pattern, a folder, a device, remote and missing stores
    for name, data in [("fifo", {"paths": [fifo]}), ("glob", {"paths": [str(DATA / "*.csv")]}),
                       ("folder", {"paths": [str(DATA)]}), ("device", {"paths": ["/dev/zero"]}),
                       ("http store", {"store": "http://127.0.0.1:9/runs"}),
                       ("s3 store", {"store": "s3://bucket/runs"}),
                       ("missing store", {"store": "/nonexistent/store"}),
                       ("text", "x"), ("paths text", {"paths": "x"}), ("paths int", {"paths": [1]}),
                       ("neither", {"other": 1})]:
        add((f"data {name}", "chin", _set(chin, "settings.data", data), False))
    # loss-curve fits
    for p in ("L0", "A", "alpha", "beta"):
        for name in ("null", "negative", "huge", "text"):
            add((f"curve params.{p}={name}", "curve", _set(cur, f"params.{p}", _BAD_VALUES[name]),
                 True))
        add((f"curve params.{p}*2", "curve", _set(cur, f"params.{p}", cur["params"][p] * 2), True))
    for path, v in [("law", "nosuch"), ("law", "lr_annealing"), ("law", 3), ("law", "chinchilla"),
                    ("law", "joint_multi_power"), ("replicates", "x"),
                    ("replicates", cur["replicates"][:1]),
                    ("replicates.0.params", {"L0": 3.0}), ("replicates.0", 7), ("level", 5),
                    ("level", "x"), ("curves", "x"), ("curves.0", 3), ("curves.0.schedule", 5),
                    ("diagnostics.fit_errors", {"a": "x"}), ("diagnostics.warnings", [3]),
                    ("settings.data", {"paths": [fifo]}),
                    ("settings.data", {"paths": [str(MP / "*.csv")]}), ("n_points", "x"),
                    ("params", _DEL), ("kind", "other")]:
        add((f"curve {path}={json.dumps(v, default=str)[:20]}", "curve", _set(cur, path, v),
             path in ("law", "params", "replicates.0.params")))
    return out


# ---------------------------------------------------------------------- running them
def _invoke(argv: list[str]) -> tuple[int | str, str]:
    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise _Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(TIMEOUT_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc: int | str = run(argv)
    except _Hang:
        rc = "hang"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return rc, out.getvalue() + err.getvalue()


_NUM = r"([-+0-9.eE]+|nan|inf|-inf)"
_FINAL = re.compile(rf"at [^:]*: {_NUM}(?:\s+\[{_NUM}, {_NUM}\])?")
_CURVE = re.compile(rf"predicted loss at step \d+: {_NUM}(?: \[{_NUM}, {_NUM}\])?")


def _value(text: str, kind: str):
    m = (_CURVE if kind == "curve" else _FINAL).search(text)
    if not m:
        return None
    return tuple(None if g is None else float(g) for g in m.groups())


def classify(rc, text: str, cmd: str, kind: str, invalid: bool, baseline) -> str:
    if rc == "hang":
        return "hang"
    if rc == 0:
        warned = "warning:" in text
        if invalid and not warned and cmd != "predict":
            return "silent wrong"  # a figure or report of an invalid fit, said nothing
        if cmd == "predict":
            v = _value(text, kind)
            if v is None:
                return "silent wrong"
            val, lo, hi = v
            nums = [x for x in v if x is not None]
            if not all(math.isfinite(x) for x in nums) and not warned:
                return "silent wrong"
            if lo is not None and not (lo <= val <= hi) and not warned:
                return "silent wrong"
            if invalid and not warned and not math.isclose(val, baseline, rel_tol=1e-9):
                return "silent wrong"
        return "handled"
    lines = [ln for ln in text.strip().splitlines() if ln.startswith("error:")]
    if rc == 2 and lines and "internal error" not in text and "Traceback" not in text:
        return "clear error"
    return "internal error"


@pytest.mark.slow
def test_tampered_artefacts_through_the_cli(bases, tmp_path, capsys):
    vs = variants(bases)
    assert len(vs) >= 100
    base_vals = {}
    for kind in ("chin", "curve"):
        f = tmp_path / f"base-{kind}.json"
        f.write_text(json.dumps(bases[kind]))
        rc, text = _invoke(["predict", str(f), *(["--schedule", SCHEDULE] if kind == "curve"
                                                 else ["--at", AT])])
        assert rc == 0, text
        base_vals[kind] = _value(text, kind)[0]
    tally = {"tried": 0, "handled": 0, "clear error": 0, "internal error": 0, "hang": 0,
             "silent wrong": 0}
    bad = []
    for i, (name, kind, art, invalid) in enumerate(vs):
        f = tmp_path / f"v{i}.json"
        f.write_text(art if isinstance(art, str) else json.dumps(art), encoding="utf-8")
        cmds = {"predict": ["predict", str(f), *(["--schedule", SCHEDULE] if kind == "curve"
                                                   else ["--at", AT])],
                "plot": ["plot", str(f), "-o", str(tmp_path / f"v{i}.png")],
                "report": ["report", "--fit", str(f), "-o", str(tmp_path / f"v{i}.html")]}
        for cmd, argv in cmds.items():
            rc, text = _invoke(argv)
            outcome = classify(rc, text, cmd, kind, invalid, base_vals[kind])
            tally["tried"] += 1
            tally[outcome] += 1
            if outcome in ("internal error", "hang", "silent wrong"):
                bad.append((name, cmd, outcome, text.strip()[-300:]))
    with capsys.disabled():
        print("\ntampered artefacts: " + ", ".join(f"{k} {v}" for k, v in tally.items()))
    assert tally["tried"] == 3 * len(vs)
    assert not bad, bad[:10]
    assert tally["internal error"] == tally["hang"] == tally["silent wrong"] == 0
    # most variants are refused with a clear error, the harmless ones still work
    assert tally["clear error"] > tally["tried"] / 2 and tally["handled"] > 10


def test_units_slip_and_far_extrapolation_are_flagged(bases, tmp_path):
    f = tmp_path / "chin.json"
    f.write_text(json.dumps(bases["chin"]))
    rc, text = _invoke(["predict", str(f), "--at", "N=7,D=1.4e3"])
    assert rc == 0 and "implausibly small" in text and "N=7B" in text
    rc, text = _invoke(["predict", str(f), "--at", "N=7e20,D=1.4T"])
    m = re.search(r"N = \S+ is ([0-9.]+) decades above", text)
    assert rc == 0 and m and float(m.group(1)) == pytest.approx(10.6, abs=0.1)
    # suffixes: 70B and 1.4T are 7e10 and 1.4e12
    rc1, t1 = _invoke(["predict", str(f), "--at", "N=70B,D=1.4T", "--json"])
    rc2, t2 = _invoke(["predict", str(f), "--at", "N=7e10,D=1.4e12", "--json"])
    assert rc1 == rc2 == 0
    assert json.loads(t1)[0]["value"] == pytest.approx(json.loads(t2)[0]["value"], rel=1e-12)
    assert "warnings" not in json.loads(t2)[0]
    rc, text = _invoke(["predict", str(f), "--at", "N=7m,D=1T"])
    assert rc == 2 and "milli or million" in text
    res = scalefit.FitResult.from_json(f)
    with pytest.warns(scalefit.units.PredictionWarning, match="implausibly small"):
        p = res.predict(N=7.0, D=1.4e12)
    assert any("implausibly small" in w for w in p.to_records()[0]["warnings"])


# ---------------------------------------------------------------------- scripts in HTML
EVIL = ["<script>window.__pwned = 1</script>", "<img src=x onerror='window.__pwned = 2'>",
        "'><svg onload='window.__pwned = 3'>", "\"><script>window.__pwned = 4</script>"]


@pytest.fixture(scope="module")
def hostile_pages(bases, tmp_path_factory) -> list[Path]:
    """HTML from every producer, fed well-formed artefacts with script payloads in every text
    field a page shows."""
    from scalefit.curves.result import CurveFitResult
    from scalefit.result import FitResult

    tmp = tmp_path_factory.mktemp("pages")
    chin = copy.deepcopy(bases["chin"])
    chin["metric"] = EVIL[0]
    chin["backtest"] = {"holdout": EVIL[0], "n_heldout": 3, "mean_rel_error": 0.01,
                        "heldout_runs": [EVIL[1]], "points": [
                            {"run": EVIL[2], "inputs": {"N": 1e9}, "value": 2.0, "pred": 2.1,
                             "rel_error": 0.05}], "ranking": [{"law": EVIL[3], "error": EVIL[1]}]}
    chin["diagnostics"]["warnings"] = EVIL
    chin["diagnostics"]["notes"] = EVIL
    chin["derived"]["a"]["doc"] = EVIL[2]
    chin["predictions"][0]["label"] = EVIL[3]
    chin["predictions"][0]["warnings"] = EVIL
    chin["settings"]["objective"]["name"] = EVIL[1]
    cur = copy.deepcopy(bases["curve"])
    cur["diagnostics"]["warnings"] = EVIL
    cur["diagnostics"]["notes"] = EVIL
    cur["curves"][0]["name"] = EVIL[0]
    cur["diagnostics"]["fit_errors"] = {EVIL[1]: {"mean_rel": 0.01, "max_rel": 0.02}}
    fc, fcur = tmp / "chin.json", tmp / "curve.json"
    fc.write_text(json.dumps(chin))
    fcur.write_text(json.dumps(cur))
    store = scalefit.Store(tmp / "store")
    logs = scalefit.read_logs(DATA / "chinchilla.csv")
    runs, pts = logs.runs.copy(), logs.points.copy()
    runs["run"] = runs["run"].replace("chinchilla-3", EVIL[1])
    pts["run"] = pts["run"].replace("chinchilla-3", EVIL[1])
    store.add(runs=runs, points=pts)
    wrap = "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{}</body></html>"
    pages = []
    for name, obj in [("fit", FitResult.from_json(fc)), ("curve", CurveFitResult.from_json(fcur)),
                      ("store", store), ("summary", FitResult.from_json(fc).summary())]:
        p = tmp / f"repr-{name}.html"
        p.write_text(wrap.format(obj._repr_html_()), encoding="utf-8")
        pages.append(p)
    out = tmp / "report.html"
    with contextlib.redirect_stdout(io.StringIO()):
        assert run(["report", "--store", str(tmp / "store"), "--fit", str(fc), "--fit", str(fcur),
                    "-o", str(out), "--title", EVIL[0]]) == 0
    pages.append(out)
    return pages


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.bad: list = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "svg", "iframe") or (tag == "img" and not dict(attrs).get(
                "src", "").startswith("data:")):
            self.bad.append(tag)
        self.bad += [k for k, _ in attrs if k.startswith("on")]


def test_every_html_producer_escapes_hostile_text(hostile_pages):
    for page in hostile_pages:
        text = page.read_text(encoding="utf-8")
        p = _Tags()
        p.feed(text)
        assert not p.bad, (page.name, p.bad)
        assert "&lt;script&gt;" in text or "&lt;img" in text, page.name


@pytest.mark.skipif(not HAVE_CHROMIUM, reason=SKIP_REASON)
def test_no_script_runs_in_headless_chromium(hostile_pages):
    pytest.importorskip("websocket", reason="the CDP client needs websocket-client")
    with chromium_page() as cdp:
        for path in hostile_pages:
            cdp.events.clear()
            cdp.call("Page.navigate", url=path.resolve().as_uri())
            cdp.wait("Page.loadEventFired")
            time.sleep(0.3)  # an onerror handler fires after the failed image load
            s = json.loads(cdp.evaluate(
                "JSON.stringify({pwned: window.__pwned === undefined ? null : window.__pwned, "
                "scripts: document.scripts.length, text: document.body.innerText})"))
            assert s["pwned"] is None and s["scripts"] == 0, (path.name, s["pwned"])
            assert "window.__pwned" in s["text"], path.name  # shown as text instead
