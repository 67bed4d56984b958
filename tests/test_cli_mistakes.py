"""The errors of a user's likely first mistakes say what was meant and what to do."""

from pathlib import Path

import pytest

from scalefit.cli import run
from scalefit.errors import UsageError
from scalefit.laws import get_law

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "chinchilla.csv"


def _error(argv: list[str], capsys) -> str:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    return err


@pytest.mark.parametrize("typed, meant", [("chinchila", "chinchilla"),
                                          ("Chinchilla", "chinchilla"),
                                          ("kaplan-nd", "kaplan_nd")])
def test_a_misspelt_law_names_the_law_meant(typed, meant):
    with pytest.raises(UsageError, match=f"did you mean '{meant}'"):
        get_law(typed)


def test_an_unrelated_law_name_suggests_nothing():
    with pytest.raises(UsageError, match="unknown law 'nope'; known laws:") as exc:
        get_law("nope")
    assert "did you mean" not in str(exc.value)


def test_a_misspelt_file_names_the_file_beside_it(in_tmp, capsys):
    (in_tmp / "data").mkdir()
    (in_tmp / "data" / "chinchilla.csv").write_text(CSV.read_text())
    err = _error(["fit", "data/chinchila.csv", "--no-plot"], capsys)
    assert "data/chinchila.csv: no such file or folder" in err
    assert "did you mean data/chinchilla.csv?" in err


def test_a_missing_file_with_nothing_close_says_where_paths_start(in_tmp, capsys):
    err = _error(["fit", "runs.csv", "--no-plot"], capsys)
    assert "runs.csv: no such file or folder" in err
    assert f"relative paths start from the current folder {in_tmp}" in err


def test_a_table_without_a_loss_column_points_to_loss_col(in_tmp, capsys):
    rows = "\n".join(f"{n:g},{20 * n:g},{0.3 + 0.01 * i}"
                     for i, n in enumerate([1e7, 2e7, 4e7, 8e7, 1.6e8, 3.2e8]))
    (in_tmp / "t.csv").write_text("N,D,accuracy\n" + rows + "\n")
    err = _error(["fit", "t.csv", "--no-plot"], capsys)
    assert "t.csv: cannot tell the table kind" in err
    assert "--loss-col COLUMN" in err
    # and the advice works: the same table reads as one row per run
    assert run(["fit", "t.csv", "--loss-col", "accuracy", "--law", "power:x=N",
                "--no-plot", "--bootstrap", "0", "--holdout", "none"]) == 0
    assert "6 points from 6 runs" in capsys.readouterr().out


def test_a_skipped_tensorboard_run_says_how_to_read_it(tmp_path, monkeypatch):
    import shutil
    import sys

    from scalefit.io import read_logs

    # the base install has no tensorboard: a folder walk lists the event files as skipped
    # (its submodules go too, in case an earlier test imported them)
    for name in [m for m in sys.modules if m.startswith("tensorboard.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    shutil.copytree(ROOT / "data" / "samples" / "tensorboard", tmp_path / "tb")
    shutil.copy(ROOT / "data" / "samples" / "wide.csv", tmp_path / "wide.csv")
    data = read_logs(tmp_path)
    assert len(data.runs) == 1
    (path, reason), = data.skipped
    assert "tb" in path and "needs the tensorboard package" in reason
    assert "pip install 'scalefit[tensorboard]'" in reason


def test_ladder_run_without_torch_names_the_extra_and_the_cpu_build(tmp_path, monkeypatch,
                                                                      capsys):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    err = _error(["ladder", "run", "--preset", "cpu-smoke", "--store", str(tmp_path / "x")],
                 capsys)
    assert "scalefit ladder: the ladder trainer needs torch" in err
    assert "pip install 'scalefit[ladder]'" in err
    assert "--index-url https://download.pytorch.org/whl/cpu" in err
    assert not (tmp_path / "x").exists()
