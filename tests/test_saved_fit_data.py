"""A saved fit's figures and report rebuild exactly the data the fit saw (its recorded runs and
options), and a saved curve fit's report draws its curves from the files it records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import scalefit  # noqa: E402
from scalefit import plot  # noqa: E402
from scalefit.artefacts import attach_data, rebuild_dataset  # noqa: E402
from scalefit.cli import run as cli  # noqa: E402
from scalefit.result import load_artefact  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHINCHILLA = ROOT / "data" / "chinchilla.csv"
MULTIPOWER = ROOT / "data" / "multipower" / "25M"


def _n_drawn(ax) -> int:
    """Points drawn as scatter markers on ``ax``."""
    from matplotlib.collections import PathCollection

    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


def _subset(n: int = 60) -> list[str]:
    runs = scalefit.read_logs(CHINCHILLA).runs["run"].tolist()
    return runs[:n]


@pytest.fixture()
def csv(tmp_path):
    p = tmp_path / "chinchilla.csv"
    shutil.copy(CHINCHILLA, p)
    return p


def _check_figures(path: Path, n_points: int, source) -> None:
    res = load_artefact(str(path))
    assert res.n_points == n_points
    assert res.dataset is None
    ax = plot.residuals(res)  # rebuilt from the recorded data and options
    assert _n_drawn(ax) == n_points
    plot.headless_pyplot().close(ax.figure)
    res = load_artefact(str(path))
    ax = plot.forecast(res)
    assert _n_drawn(ax) == n_points
    plot.headless_pyplot().close(ax.figure)
    # given the whole data again, the subset is still what is drawn
    res = load_artefact(str(path))
    ax = plot.residuals(res, data=source)
    assert _n_drawn(ax) == n_points
    plot.headless_pyplot().close(ax.figure)


def test_runs_subset_from_files_rebuilds_the_fitted_points(csv, tmp_path):
    names = _subset()
    res = scalefit.fit(str(csv), "chinchilla", runs=names)
    assert res.n_points < 60  # some of the first runs are marked exclude
    out = tmp_path / "fit.json"
    res.to_json(out)
    assert json.loads(out.read_text())["settings"]["data_options"]["runs"] == names
    _check_figures(out, res.n_points, str(csv))
    again = load_artefact(str(out))
    assert attach_data(again) == []
    assert again.dataset.n == res.n_points and again.dataset.hash() == res.data_hash


def test_runs_subset_from_a_store_rebuilds_the_fitted_points(tmp_path):
    st = scalefit.Store(tmp_path / "st")
    st.ingest(scalefit.read_logs(CHINCHILLA))
    names = _subset()
    res = scalefit.fit(st, "chinchilla", runs=names, include_excluded=True)
    assert res.n_points == 60
    out = tmp_path / "fit.json"
    res.to_json(out)
    _check_figures(out, 60, st)


def test_changed_data_is_named_and_strict_refuses(csv, tmp_path):
    res = scalefit.fit(str(csv), "chinchilla", runs=_subset())
    out = tmp_path / "fit.json"
    res.to_json(out)
    lines = csv.read_text().splitlines()
    # drop one of the fitted runs from the file: the data changed since the fit
    csv.write_text("\n".join(lines[:1] + lines[7:]) + "\n")
    again = load_artefact(str(out))
    with pytest.raises(scalefit.errors.InputError, match="differs"):
        rebuild_dataset(again, strict=True)
    ds, notes = rebuild_dataset(again)
    assert ds.n != res.n_points and notes and "differs" in notes[0]
    with pytest.warns(UserWarning, match="differs"):
        ax = plot.residuals(load_artefact(str(out)))
    plot.headless_pyplot().close(ax.figure)


def test_report_of_a_subset_fit_reports_its_own_points(csv, tmp_path):
    res = scalefit.fit(str(csv), "chinchilla", runs=_subset())
    out = tmp_path / "fit.json"
    res.to_json(out)
    assert cli(["report", "--fit", str(out), "-o", str(tmp_path / "r.md")]) == 0
    md = (tmp_path / "r.md").read_text()
    assert "without its points" not in md and "differs" not in md


CURVE_FILES = ["cosine_24000.csv", "constant_24000.csv", "wsdcon_9.csv"]


def _has_figure(html: str) -> bool:
    return "data:image/png;base64," in html or "<svg" in html


@pytest.mark.slow
def test_report_of_a_saved_curve_fit_draws_its_recorded_curves(tmp_path, capsys):
    files = []
    for name in CURVE_FILES:
        shutil.copy(MULTIPOWER / name, tmp_path / name)
        files.append(str(tmp_path / name))
    out = tmp_path / "F.json"
    assert cli(["fit", *files, "--law", "multi_power", "--warmup", "2160",
                "--json", str(out), "--no-plot"]) == 0
    capsys.readouterr()
    assert cli(["report", "--fit", str(out), "-o", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "No curve figure" not in html and "pass --data" not in html
    assert _has_figure(html)
    # the curve files gone: the report says so and names an option that exists
    (tmp_path / CURVE_FILES[0]).unlink()
    assert cli(["report", "--fit", str(out), "-o", str(tmp_path / "r2.html")]) == 0
    html = (tmp_path / "r2.html").read_text()
    assert "No curve figure" in html and "not there any more" in html
    assert "pass --data" not in html and "scalefit plot" in html


@pytest.mark.slow
def test_python_curve_fit_records_its_files(tmp_path):
    from scalefit.curves import read_curve

    paths = [MULTIPOWER / n for n in CURVE_FILES]
    fast = dict(n_starts=1, maxiter=60)
    res = scalefit.fit_curves([read_curve(p, warmup=2160) for p in paths], "multi_power", **fast)
    assert res.settings["data"] == {"paths": [str(p.resolve()) for p in paths]}
    out = tmp_path / "F.json"
    res.to_json(out)
    again = load_artefact(str(out))
    axes = plot.curves_figure(again)  # the curves come from the recorded files
    assert len(axes) >= 1
    plot.headless_pyplot().close(axes[0].figure)
    # each recorded curve is read back as fitted: its schedule, so its LR at every step
    from scalefit.artefacts import rebuild_curves

    back = rebuild_curves(again)
    for c, p in zip(back, paths, strict=True):
        orig = read_curve(p, warmup=2160)
        assert c.name == orig.name and c.eta.shape == orig.eta.shape
        assert c.eta == pytest.approx(orig.eta, rel=1e-9, abs=1e-15)
    # paths work as well as curves
    res2 = scalefit.fit_curves([str(p) for p in paths], "multi_power", **fast)
    assert res2.settings["data"] == res.settings["data"]
    # a fit on curves made in memory records nothing
    mem = [read_curve(p, warmup=2160) for p in paths]
    for c in mem:
        c.meta = {}
    assert scalefit.fit_curves(mem, "multi_power", **fast).settings.get("data") is None
