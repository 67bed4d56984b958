"""`scalefit isoflop`: IsoFLOP minima and N_opt ∝ C^a from a final-loss table or a store."""

import json
from pathlib import Path

import pandas as pd
import pytest

from scalefit.cli import run as cli

ROOT = Path(__file__).resolve().parents[1]
PORIAN = ROOT.parent / "shared" / "data" / "porian2024" / "isoflop_points.csv"


@pytest.fixture()
def kaplan_like(tmp_path):
    if not PORIAN.exists():
        pytest.skip("needs Porian et al.'s isoflop_points.csv, kept outside the repository (shared/data/porian2024 beside the clone); a clone does not have it")
    p = pd.read_csv(PORIAN)
    p = p[(p.source_file == "summary_df") & (p.row == 0)]
    out = pd.DataFrame({"run": [f"r{i}" for i in range(len(p))], "N": p.n.to_numpy(),
                        "D": p.t.to_numpy(), "C": p.flops.to_numpy(), "loss": p.loss.to_numpy()})
    path = tmp_path / "kaplan_like.csv"
    out.to_csv(path, index=False)
    return path


def test_both_methods_on_the_kaplan_like_profiles(kaplan_like, tmp_path, capsys):
    js = tmp_path / "iso.json"
    fig = tmp_path / "iso.svg"
    assert cli(["isoflop", str(kaplan_like), "--method", "akima", "--json", str(js),
                "--plot", str(fig)]) == 0
    out = capsys.readouterr().out
    assert "Akima interpolation" in out and "11 of 11 budgets used" in out
    d = json.loads(js.read_text())
    assert d["kind"] == "isoflop" and d["settings"]["method"] == "akima"
    assert d["a"] == pytest.approx(0.834, abs=0.005)  # Porian et al.: 0.8338
    assert len(d["minima"]) == 11 and fig.stat().st_size > 10_000
    assert cli(["isoflop", str(kaplan_like), "--json", str(js), "--no-plot"]) == 0
    assert json.loads(js.read_text())["a"] == pytest.approx(0.857, abs=0.005)  # approach 2


def test_errors(kaplan_like, tmp_path, capsys):
    assert cli(["isoflop", str(kaplan_like), "--method", "spline", "--no-plot"]) == 2
    assert "--method" in capsys.readouterr().err
    assert cli(["isoflop", str(kaplan_like), "--plot", str(tmp_path / "x.jpg")]) == 2
    assert ".png, .svg or .pdf" in capsys.readouterr().err
    # Chinchilla's points are not grouped by budget: no profile has a bracketed minimum
    assert cli(["isoflop", str(ROOT / "data" / "chinchilla.csv"), "--no-plot"]) == 2
    assert "bracketed" in capsys.readouterr().err


def test_isoflop_names_its_data_like_fit(kaplan_like, tmp_path):
    # the options every data-reading command shares: --runs, --loss-col (and --format, --regex)
    df = pd.read_csv(kaplan_like)
    top = df["C"].max()
    keep = df.loc[~(df["C"] > 0.99 * top), "run"].tolist()
    renamed = tmp_path / "renamed.csv"
    df.rename(columns={"loss": "val_ce"}).to_csv(renamed, index=False)
    js = tmp_path / "iso.json"
    assert cli(["isoflop", str(renamed), "--format", "csv", "--loss-col", "val_ce",
                "--runs", ",".join(keep), "--json", str(js), "--no-plot"]) == 0
    d = json.loads(js.read_text())
    assert d["metric"] == "val_ce"
    assert len(d["minima"]) == 10  # the largest budget's runs were left out
    assert max(m["C"] for m in d["minima"]) < 0.99 * top
    assert cli(["isoflop", str(renamed), "--runs", "nope", "--no-plot"]) != 0
