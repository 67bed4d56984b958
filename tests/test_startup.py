"""A command-line fit loads what it fits with: no lmfit, matplotlib or scipy.stats (each costs
more CPU time than the fit), and `import scalefit` loads neither pandas nor the laws."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "chinchilla.csv"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.strip().splitlines()[-1].split())  # the last line: the modules


def test_import_scalefit_loads_no_table_or_fitting_code():
    mods = _modules_after("import scalefit")
    assert not {"pandas", "pyarrow", "scipy", "scalefit.laws", "scalefit.store"} & mods


def test_cli_fit_with_bootstrap_loads_no_plotting_or_statistics_package():
    mods = _modules_after(
        "from scalefit.cli import run\n"
        f"assert run(['fit', {str(CSV)!r}, '--no-plot', '--holdout', 'none']) == 0")
    assert "scipy.optimize" in mods  # it did fit
    assert not {"lmfit", "matplotlib", "scipy.stats", "scipy.signal", "torch"} & mods
