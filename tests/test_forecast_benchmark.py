"""The forecast benchmark (benchmarks/forecast.py) runs one case and prints a well-formed table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import forecast  # noqa: E402


def test_olmo_case_table_and_numbers(tmp_path, capsys):
    out = tmp_path / "f.json"
    rc = forecast.main(["--cases", "olmo 190M-3B", "--methods", "textbook,naive,no_such_law_yet",
                        "--json", str(out)])
    assert rc == 2  # an unknown method name is refused, not ignored
    rc = forecast.main(["--cases", "olmo 190M-3B", "--methods", "textbook,naive",
                        "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| case | data set | protocol | n train / held-out | method |" in text
    assert "auto/textbook" not in text  # auto did not run
    res = json.loads(out.read_text())
    (row,) = res["cases"]
    assert (row["n_train"], row["n_heldout"]) == (20, 2)
    tb, nv = row["methods"]["textbook"], row["methods"]["naive"]
    # Chinchilla's law from the 190M-3B rungs predicts 7B and 13B val/c4_en within 0.71% (mean)
    assert tb["mean"] == pytest.approx(0.0071, abs=0.002)
    assert tb["max"] >= tb["mean"] and 0.0 <= tb["coverage"] <= 1.0
    assert nv["coverage"] is None and nv["mean"] > 3 * tb["mean"]
    s = res["summary"]["final"]
    assert s["textbook"]["n_cases"] == 1 and s["textbook"]["mean_of_means"] == tb["mean"]


def test_missing_option_is_na():
    from _forecast_cases import olmo

    split = olmo(False)[0]
    forecast.METHODS[("final", "bogus")] = forecast.Method(
        "bogus", "final", lambda s: forecast._fit(s, "law_that_does_not_exist"), "")
    try:
        row = forecast.run_case(forecast.Case("t", "olmo_ladder", "p", "final",
                                              lambda: [split]), ["bogus"], log=lambda *a: None)
    finally:
        del forecast.METHODS[("final", "bogus")]
    r = row["methods"]["bogus"]
    assert r["mean"] is None and "law_that_does_not_exist" in r["error"]
    assert "n/a" in forecast.table([row], ["bogus"])


def test_naive_nearest_tokens_per_param():
    import pandas as pd

    tr = pd.DataFrame({"run": list("abc"), "N": [1e8, 1e9, 1e9], "D": [2e9, 2e10, 2e11],
                       "C": [0.0, 1.0, 2.0], "loss": [3.0, 2.5, 2.2]})
    te = pd.DataFrame({"run": ["x", "y"], "N": [1e10, 1e10], "D": [2.5e11, 1.5e12],
                       "C": [0.0, 0.0], "loss": [2.0, 1.9]})
    f = forecast.m_naive(forecast.Split(train=tr, test=te))
    assert list(f.pred) == [2.5, 2.2]


def test_li_et_al_case_reads_the_best_lr_of_each_run_length():
    """Li et al. 2025's runs: 261 rows, each size and token count at its best LR, runs of at
    least 1,000 steps; Chinchilla's textbook fit to the sizes up to 0.4B misses the two 1B runs
    by 0.76% (mean)."""
    import pandas as pd
    from _forecast_cases import DATA, misfitting

    raw = pd.read_csv(DATA / "misfitting2025" / "misfitting_final_losses.csv")
    assert len(raw) == 261 and raw["model"].nunique() == 11
    (split,) = misfitting()
    assert (len(split.train), len(split.test)) == (49, 2)
    assert split.train["N"].max() == 393268480 and (split.train["D"] >= 1000 * 2**20).all()
    # the 1B runs at 10 and 20 thousand steps, each the lowest of its peak LRs
    assert list(split.test["loss"]) == pytest.approx([2.788925, 2.685065], abs=1e-6)
    f = forecast.m_textbook(split)
    err = abs(f.pred / split.test["loss"].to_numpy() - 1)
    assert err.mean() == pytest.approx(0.0076, abs=0.0005)


#: Porian et al.'s published compute-optimal exponents (fit_results.json, "basic") of the
#: configurations shipped in data/porian2024 as cases added after `auto` was designed
PORIAN_ADDED = {"tuned_owt2": 0.5184, "kaplan_like_owt2": 0.8700, "cosine_rw": 0.5714,
                "cosine_owt2": 0.5689, "standard_count_rw": 0.7009, "short_warmup_rw": 0.6035,
                "standard_count_owt2": 0.7000, "short_warmup_owt2": 0.6016}


@pytest.mark.parametrize("config, published", sorted(PORIAN_ADDED.items()))
def test_added_porian_cases_are_their_published_configurations(config, published):
    """The OpenWebText2 and cosine-decay IsoFLOP grids copied from Porian et al. give their
    published exponent a (their Akima estimate) and split as the RefinedWeb cases do: the two
    largest sizes held out, runs with fewer tokens than parameters left out."""
    import pandas as pd
    from _forecast_cases import DATA, porian

    from scalefit.fitting.isoflop import isoflop

    pts = pd.read_csv(DATA / "porian2024" / f"isoflop_{config}.csv")
    res = isoflop(pts, C="C", N="N", loss="loss", D="D", method="akima", seed=0)
    assert res.a == pytest.approx(published, abs=0.005)
    (split,) = porian(config)
    sizes = sorted(pts["N"].unique())
    assert set(split.test["N"]) <= set(sizes[-2:]) and split.train["N"].max() < sizes[-2]
    assert (split.train["D"] >= split.train["N"]).all() and (split.test["D"] >= split.test["N"]).all()


@pytest.mark.slow
def test_auto_forecasts_the_added_porian_cases_better_than_the_textbook():
    """On the four Porian et al. grids added before kaplan_nd_e joined `auto`, `auto` misses the
    two largest sizes by less than Chinchilla's textbook fit on each (measured: 1.50 / 0.46 /
    0.47 / 0.66% against 3.45 / 0.84 / 0.98 / 1.12%). (Of the four added after, it loses one.)"""
    from _forecast_cases import porian

    for config in ("tuned_owt2", "kaplan_like_owt2", "cosine_rw", "cosine_owt2"):
        (split,) = porian(config)
        y = split.test["loss"].to_numpy()
        errs = {name: float(abs(fn(split).pred / y - 1).mean())
                for name, fn in (("auto", forecast.m_auto), ("textbook", forecast.m_textbook))}
        assert errs["auto"] < errs["textbook"], (config, errs)


@pytest.mark.slow
def test_on_pythia_kaplans_form_with_a_vanished_constant_is_not_averaged():
    """Pythia's checkpoints: kaplan_nd_e's constant goes to 0 in its backtest, where it is Kaplan's
    form, which wins the backtest (5.30% against 6.33%) but not by 20%. `auto` averages
    Chinchilla's forms alone and forecasts the 12B model's last checkpoints at 1.25% (1.31%
    before chinchilla_prior joined them); averaging kaplan_nd_e in too gave 1.73%. The flag
    survives a saved fit."""
    from _forecast_cases import pythia_checkpoints

    import scalefit

    (split,) = pythia_checkpoints()
    res = scalefit.fit(split.data, "auto", **split.fit_kw)
    row = next(r for r in res.backtest["ranking"] if r["law"] == "kaplan_nd_e")
    assert row["as"] == "kaplan_nd" and row["mean_rel_error"] == pytest.approx(0.053, abs=0.002)
    assert {m["law"] for m in res.ensemble["members"]} == {"chinchilla", "chinchilla_prior",
                                                       "overtrain"}
    t = split.test
    pred = res.predict(N=t["N"].to_numpy(), D=t["D"].to_numpy()).value
    assert abs(pred / t["loss"].to_numpy() - 1).mean() == pytest.approx(0.0125, abs=5e-4)
    back = scalefit.FitResult.from_json(res.to_json())
    assert "E at 0 in the backtest: this is kaplan_nd" in str(back.summary())


@pytest.mark.slow
def test_oracle_is_the_best_of_autos_candidates_by_hindsight(tmp_path):
    """Porian et al.'s RefinedWeb grid with the head counted: `auto` averages its family and
    misses the two largest sizes by 0.84%; of its candidates, Chinchilla's law without the three
    smallest sizes comes within 0.33% (measured), which only hindsight picks. The oracle row
    says so, stays out of auto/textbook and gives oracle/textbook."""
    out = tmp_path / "o.json"
    rc = forecast.main(["--cases", "porian RW head counted", "--methods", "auto,textbook,oracle",
                        "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    (row,) = res["cases"]
    auto, tb, orc = (row["methods"][k] for k in ("auto", "textbook", "oracle"))
    assert auto["mean"] == pytest.approx(0.0084, abs=5e-4)
    assert orc["mean"] == pytest.approx(0.0033, abs=5e-4)
    assert orc["coverage"] is None
    s = res["summary"]["final"]
    assert s["auto/textbook"] == pytest.approx(auto["mean"] / tb["mean"], rel=1e-9)
    assert s["oracle/textbook"] == pytest.approx(orc["mean"] / tb["mean"], rel=1e-9)


def test_interval_score_by_hand():
    """Width, plus 2/alpha = 40 times the miss at 95% (Gneiting & Raftery 2007, eq. 43)."""
    s = forecast.interval_score([2.0, 2.0, 2.0], [1.9, 2.05, 1.0], [2.1, 2.2, 1.5])
    assert s == pytest.approx([0.2, 0.15 + 40 * 0.05, 0.5 + 40 * 0.5])
