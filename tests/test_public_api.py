"""The public API: what ``dir(scalefit)`` shows, misspelt keywords, short reprs, lazy imports."""

import subprocess
import sys
import types
from pathlib import Path

import pytest

import scalefit
from scalefit.curves import CURVE_LAW_NAMES, is_curve_law_name, multipower_curves
from scalefit.fitting import prepare
from scalefit.fitting.backtest import compare

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "chinchilla.csv"


def test_dir_shows_every_public_name():
    shown = set(dir(scalefit))
    assert {"fit", "FitResult", "fit_curves", "CurveFitResult", "compare", "read_logs"} <= shown
    assert set(scalefit.__all__) <= shown
    for name in scalefit.__all__:
        assert getattr(scalefit, name) is not None
    # every public object of the package (its own and the lazy ones) is in __all__
    own = {k for k, v in vars(scalefit).items()
           if not k.startswith("_") and not isinstance(v, types.ModuleType)}
    assert own | set(scalefit._LAZY) <= set(scalefit.__all__)


def test_curve_law_names_match_the_laws():
    from scalefit.laws.curve import CURVE_LAWS, MeanLaw

    assert set(CURVE_LAW_NAMES) == set(CURVE_LAWS) | {MeanLaw.name}
    assert is_curve_law_name("joint_multi_power") and is_curve_law_name("ensemble")
    assert not is_curve_law_name("chinchilla") and not is_curve_law_name("power:x=C")


@pytest.mark.parametrize(("call", "wrong", "right"), [
    (lambda: scalefit.fit(str(CSV), objectve="mse"), "objectve", "objective"),
    (lambda: prepare(str(CSV), "chinchilla", objectve="mse"), "objectve", "objective"),
    (lambda: compare(str(CSV), ["chinchilla"], objectve="mse", metrc="nope"), "objectve",
     "objective"),
    (lambda: scalefit.fit_curves([], "multi_power", resdual="abs"), "resdual", "residual"),
])
def test_misspelt_keyword_is_a_type_error_with_a_suggestion(call, wrong, right):
    with pytest.raises(TypeError, match=rf"'{wrong}' \(did you mean '{right}'\?\)"):
        call()


def test_fit_curves_suggests_its_own_keywords():
    curves = multipower_curves(ROOT / "data" / "multipower" / "25M", ["cosine_24000"])
    with pytest.raises(TypeError, match=r"'intervall' \(did you mean 'intervals'\?\)"):
        scalefit.fit_curves(curves, "multi_power", intervall=True)
    with pytest.raises(TypeError, match=r"'metrc' \(did you mean 'metric'\?\)"):
        compare(str(CSV), ["chinchilla"], metrc="loss")


def test_compare_still_forwards_data_options():
    out = compare(str(CSV), ["chinchilla"], "largest:3", metric="loss", objective="mse",
                  include_excluded=False)
    row = out["ranking"][0]
    assert row["law"] == "chinchilla" and 0 < row["mean_rel_error"] < 0.05


def test_fit_result_repr_is_one_short_line():
    res = scalefit.fit(str(CSV), "chinchilla")
    r = repr(res)
    assert "\n" not in r and len(r) < 200, r
    assert r.startswith("<FitResult chinchilla on 'loss': 240 points, 240 runs; E=")
    assert f"alpha={res.params_['alpha']:.4g}" in r
    assert str(res) == str(res.summary()) and len(str(res)) > 2 * len(r)


def test_curve_fit_result_repr_is_one_short_line():
    curves = multipower_curves(ROOT / "data" / "multipower" / "25M",
                               ["cosine_24000", "constant_24000"])
    res = scalefit.fit_curves(curves, "lr_annealing")
    r = repr(res)
    assert "\n" not in r and len(r) < 200, r
    assert r.startswith(f"<CurveFitResult lr_annealing: 2 curves, {res.n_points} points; L0=")
    assert str(res) == res.summary()


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_final_loss_fit_does_not_load_the_curve_code(tmp_path):
    mods = _modules_after("import scalefit.cli")
    assert not {"scalefit.fitting.curves", "scipy.signal", "scipy.stats"} & mods
    mods = _modules_after(
        "from scalefit.cli import run\n"
        f"assert run(['fit', {str(CSV)!r}, '--no-plot', '-b', '0', '--holdout', 'none']) == 0")
    assert not {"scalefit.fitting.curves", "scalefit.laws.curve_kernels", "scipy.signal"} & mods
