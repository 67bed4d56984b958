"""A saved fit records where its data is, so figures and reports of it show its points
without --data; when the data has moved, the error (or note) says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import scalefit  # noqa: E402
from scalefit.cli import run as cli  # noqa: E402
from scalefit.cli.plot import attach_data, load_fit  # noqa: E402

CHINCHILLA = Path(__file__).resolve().parents[1] / "data" / "chinchilla.csv"


@pytest.fixture()
def saved_fit(tmp_path, capsys):
    csv = tmp_path / "chinchilla.csv"
    shutil.copy(CHINCHILLA, csv)
    out = tmp_path / "fit.json"
    assert cli(["fit", str(csv), "--bootstrap", "0", "--json", str(out), "--no-plot"]) == 0
    capsys.readouterr()
    return csv, out


@pytest.mark.slow
def test_artefact_records_its_data_and_gets_its_points_back(saved_fit, tmp_path, capsys):
    csv, out = saved_fit
    d = json.loads(out.read_text())
    assert d["settings"]["data"] == {"paths": [str(csv.resolve())]}
    assert d["settings"]["data_options"]["include_excluded"] is False
    res = load_fit(str(out))
    assert attach_data(res) == []  # same data: no note
    assert res.dataset.n == 240  # Epoch's 240 points: the 5 marked `exclude` stay out
    for kind in ("residuals", "forecast"):
        assert cli(["plot", str(out), "--kind", kind, "-o", str(tmp_path / f"{kind}.png")]) == 0
    assert "note" not in capsys.readouterr().err
    assert cli(["report", "--fit", str(out), "-o", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "without its points" not in html


def test_moved_data_gives_a_clear_error_or_note(saved_fit, tmp_path, capsys):
    csv, out = saved_fit
    csv.rename(tmp_path / "elsewhere.csv")
    assert cli(["plot", str(out), "--kind", "residuals", "-o", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err
    assert "not there any more" in err and str(csv.resolve()) in err and "--data" in err
    # a figure that can be drawn without points still is, with a note
    assert cli(["plot", str(out), "-o", str(tmp_path / "f.png")]) == 0
    assert "without its points" in capsys.readouterr().err
    # --data still works
    assert cli(["plot", str(out), "--kind", "residuals", "-o", str(tmp_path / "r.png"),
                "--data", str(tmp_path / "elsewhere.csv")]) == 0


def test_store_fits_record_the_store_and_memory_fits_record_nothing(tmp_path, capsys):
    st = scalefit.Store(tmp_path / "st")
    st.ingest(scalefit.read_logs(CHINCHILLA))
    res = scalefit.fit(st, "chinchilla")
    assert res.settings["data"] == {"store": str((tmp_path / "st").resolve())}
    res.to_json(tmp_path / "s.json")
    again = load_fit(str(tmp_path / "s.json"))
    attach_data(again)
    assert again.dataset.n == 240
    mem_store = scalefit.Store()  # in memory
    mem_store.ingest(scalefit.read_logs(CHINCHILLA))
    mem = scalefit.fit(mem_store, "chinchilla")
    assert mem.settings["data"] is None
    mem.to_json(tmp_path / "m.json")
    assert cli(["plot", str(tmp_path / "m.json"), "--kind", "residuals",
                "-o", str(tmp_path / "x.png")]) == 2
    assert "needs the fit's data" in capsys.readouterr().err


@pytest.mark.slow
def test_curve_fit_artefact_finds_its_curves(tmp_path, capsys):
    root = Path(__file__).resolve().parents[1] / "data" / "multipower" / "25M"
    files = []
    for name in ("cosine_24000", "constant_24000"):
        shutil.copy(root / f"{name}.csv", tmp_path / f"{name}.csv")
        files.append(str(tmp_path / f"{name}.csv"))
    out = tmp_path / "mp.json"
    assert cli(["fit", *files, "--law", "multi_power", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["settings"]["data"]["paths"] == files
    capsys.readouterr()
    assert cli(["plot", str(out), "-o", str(tmp_path / "c.png")]) == 0
    Path(files[0]).unlink()
    assert cli(["plot", str(out), "-o", str(tmp_path / "c.png")]) == 2
    assert "not there any more" in capsys.readouterr().err


@pytest.mark.slow
def test_curve_fit_of_a_store_finds_its_runs_again(tmp_path, capsys):
    from scalefit.artefacts import rebuild_curves

    root = Path(__file__).resolve().parents[1] / "data" / "multipower" / "25M"
    st = tmp_path / "st"
    assert cli(["ingest", str(root), "--store", str(st)]) == 0
    out = tmp_path / "mp.json"
    assert cli(["fit", "--store", str(st), "--runs", "cosine_24000,constant_24000",
                "--law", "multi_power", "--json", str(out), "--no-plot"]) == 0
    rec = json.loads(out.read_text())["settings"]["data"]
    assert rec["store"] == str(st) and sorted(rec["runs"]) == ["constant_24000", "cosine_24000"]
    capsys.readouterr()
    # from the recorded store, and from one given with --store after it moved
    fig = tmp_path / "c.png"
    assert cli(["plot", str(out), "-o", str(fig)]) == 0 and fig.stat().st_size > 10_000
    curves = rebuild_curves(load_fit(str(out)))
    assert sorted(c.name for c in curves) == ["constant_24000", "cosine_24000"]
    cos = next(c for c in curves if c.name == "cosine_24000")
    logged = scalefit.read_logs(root / "cosine_24000.csv").points
    assert cos.loss[-1] == pytest.approx(logged[logged["metric"] == "loss"]["value"].iloc[-1])
    st.rename(tmp_path / "moved")
    assert cli(["plot", str(out), "-o", str(fig)]) == 2
    assert "not there any more" in capsys.readouterr().err
    assert cli(["plot", str(out), "--store", str(tmp_path / "moved"), "-o", str(fig)]) == 0
    # the runs a file records are checked before they are used
    d = json.loads(out.read_text())
    d["settings"]["data"]["runs"] = "cosine_24000"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    assert cli(["plot", str(bad), "--store", str(tmp_path / "moved"), "-o", str(fig)]) != 0
    assert "settings.data.runs" in capsys.readouterr().err
