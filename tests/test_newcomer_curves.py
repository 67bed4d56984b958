"""Curve laws read their data as every fit does: files, folders, globs, a store with --runs,
--format, --regex, --loss-col and --metric."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.cli import run as cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
MULTIPOWER = ROOT / "data" / "multipower" / "25M"
FAST = ["--bootstrap", "0", "--no-plot"]
# an llm.c train_gpt2 stdout line
LLMC_RX = r"step\s+(?P<step>\d+)/\d+ \| loss (?P<loss>[\d.]+) .*?\| lr (?P<lr>[\d.e+-]+) \|"


def _curves(path: Path) -> dict:
    return {c["name"]: c for c in json.loads(path.read_text())["curves"]}


def _llmc_log(dst: Path, src: Path) -> pd.DataFrame:
    """The real curve ``src`` (step, lr, loss) written as llm.c prints its training steps."""
    df = pd.read_csv(src).iloc[::3]
    total = int(df["step"].max()) + 1
    lines = ["+-----------------------+----------------------------------------------------+",
             "| Parameter             | Value                                              |",
             f"| max_steps             | {total:<50d} |", "allocated 474 MiB for model parameters"]
    for r in df.itertuples(index=False):
        lines.append(f"step {int(r.step):4d}/{total} | loss {r.loss:.6f} (+0.00z)| norm 0.4123 "
                     f"(+0.00z)| lr {r.lr:.2e} | 301.52 ms | 42.1% bf16 MFU | 1739123 tok/s")
    lines.append("total average iteration time: 301.442 ms")
    dst.write_text("\n".join(lines) + "\n")
    return df


@pytest.mark.slow
def test_megatron_log(tmp_path):
    out = tmp_path / "fit.json"
    assert cli(["fit", str(SAMPLES / "megatron.log"), "--law", "multi_power", *FAST,
                "--json", str(out)]) == 0
    curves = _curves(out)
    assert list(curves) == ["megatron"]
    n_logged = sum(1 for line in (SAMPLES / "megatron.log").read_text().splitlines()
                   if "lm loss:" in line)
    assert curves["megatron"]["n_points"] == n_logged
    saved = json.loads(out.read_text())
    assert saved["settings"]["data"]["paths"] == [str((SAMPLES / "megatron.log").resolve())]
    # the metric named with --metric is the one fitted; one the log lacks is an error
    assert cli(["fit", str(SAMPLES / "megatron.log"), "--law", "multi_power", *FAST,
                "--metric", "lm loss", "--json", str(tmp_path / "m.json")]) == 0
    assert _curves(tmp_path / "m.json")["megatron"]["n_points"] == n_logged
    assert cli(["fit", str(SAMPLES / "megatron.log"), "--law", "multi_power", *FAST,
                "--metric", "val loss"]) == 2


def _fit_errors(path: Path) -> dict[str, float]:
    res = json.loads(path.read_text())
    return {k: v["mean_rel"] for k, v in res["diagnostics"]["fit_errors"].items()}


@pytest.mark.slow
def test_llmc_logs_with_regex(tmp_path):
    logs = tmp_path / "llmc"
    logs.mkdir()
    srcs = {"cosine": "cosine_24000.csv", "wsd": "wsd_20000_24000.csv",
            "constant": "constant_24000.csv"}
    frames = {k: _llmc_log(logs / f"{k}.log", MULTIPOWER / v) for k, v in srcs.items()}
    out = tmp_path / "fit.json"
    # a folder of text logs, read with the regex as `scalefit ingest --regex` reads them
    assert cli(["fit", str(logs), "--regex", LLMC_RX, "--law", "multi_power", *FAST,
                "--warmup", "2160", "--json", str(out)]) == 0
    curves = _curves(out)
    assert sorted(curves) == sorted(srcs)
    for k, c in curves.items():
        assert c["n_points"] == len(frames[k])
    errs = _fit_errors(out)
    assert max(errs.values()) < 0.01  # the multi-power law fits these curves within 1%
    # a glob names the same files
    out2 = tmp_path / "glob.json"
    assert cli(["fit", str(logs / "*.log"), "--regex", LLMC_RX, "--law", "multi_power", *FAST,
                "--warmup", "2160", "--json", str(out2)]) == 0
    assert _fit_errors(out2) == pytest.approx(errs, rel=1e-6)
    # without --regex there is no log format to read them
    assert cli(["fit", str(logs / "cosine.log"), "--law", "multi_power", *FAST]) == 2


@pytest.mark.slow
def test_store_with_runs_as_final_loss_fits(tmp_path, capsys):
    store = tmp_path / "st"
    assert cli(["ingest", str(SAMPLES), "--store", str(store)]) == 0
    runs = "100M-cosine,100M-constant_24000,100M-wsdcon_9"
    out = tmp_path / "curve.json"
    assert cli(["fit", "--store", str(store), "--runs", runs, "--law", "multi_power", *FAST,
                "--json", str(out)]) == 0
    curves = _curves(out)
    assert sorted(curves) == sorted(runs.split(","))
    assert max(_fit_errors(out).values()) < 0.02
    # the same --store and --runs in a final-loss fit
    finals = ",".join(f"final_isoflop-{i}" for i in range(12))
    fout = tmp_path / "final.json"
    assert cli(["fit", "--store", str(store), "--runs", finals, "--law", "chinchilla",
                "--bootstrap", "0", "--holdout", "none", "--no-plot", "--json",
                str(fout)]) == 0
    fit = json.loads(fout.read_text())
    assert fit["n_points"] == 12
    # and in `scalefit compare`
    capsys.readouterr()
    assert cli(["compare", "--store", str(store), "--runs", finals, "--law", "chinchilla",
                "--law", "kaplan", "--holdout", "largest:2", "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)["ranking"]
    assert {r["law"] for r in ranked} == {"chinchilla", "kaplan"}
    assert all(r["n_heldout"] == 2 for r in ranked if r.get("n_heldout") is not None)
    capsys.readouterr()
    assert cli(["fit", "--store", str(store), "--runs", "nope", "--law", "multi_power",
                *FAST]) == 2
    assert "nope" in capsys.readouterr().err


def test_final_loss_table_is_named(capsys):
    rc = cli(["fit", str(ROOT / "data" / "chinchilla.csv"), "--law", "multi_power", *FAST])
    err = capsys.readouterr().err
    assert rc == 2
    assert "final-loss table" in err and "--law chinchilla" in err
    assert "no `loss` column" not in err


def test_loss_col_and_run_names_match_ingest(tmp_path):
    # a Lightning version dir: the run is named as `scalefit ingest` names it
    out = tmp_path / "fit.json"
    assert cli(["fit", str(SAMPLES / "lightning"), "--law", "multi_power", *FAST,
                "--loss-col", "train_loss", "--json", str(out)]) == 0
    from scalefit.io import read_logs

    assert list(_curves(out)) == read_logs(SAMPLES / "lightning").runs["run"].tolist()
    pts = read_logs(SAMPLES / "lightning").points
    n = int(((pts["metric"] == "train_loss") & pts["step"].notna()).sum())
    assert _curves(out)["100M-wsd/version_0"]["n_points"] == n
    assert np.isfinite(_fit_errors(out)["100M-wsd/version_0"])
