"""CSV/TSV readers: wide, long, final-loss tables, W&B history exports, run-name metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.io import FORMATS, read_logs, sniff
from scalefit.io.runinfo import RunInfo

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="needs the optional data set kept outside the repository (a shared/data folder beside the clone), which a clone does not have")


def meta(data, run):
    return json.loads(data.runs.set_index("run").loc[run, "meta"])


def test_chinchilla_table_gives_245_runs_with_n_d_c():
    d = read_logs(ROOT / "data" / "chinchilla.csv")
    assert len(d.runs) == 245 and len(d.points) == 245
    r = d.runs
    assert r[["params", "tokens_total", "flops_total"]].notna().all().all()
    np.testing.assert_allclose(r["tokens_total"], r["flops_total"] / (6 * r["params"]), rtol=1e-12)
    raw = pd.read_csv(ROOT / "data" / "chinchilla.csv")
    np.testing.assert_allclose(r["params"], raw["Model Size"], rtol=1e-12)
    np.testing.assert_allclose(d.points["value"], raw["loss"], rtol=1e-12)
    assert d.points["step"].isna().all() and set(d.points["metric"]) == {"loss"}
    assert r["run"].iloc[0] == "chinchilla-0" and r["run"].iloc[-1] == "chinchilla-244"
    m = meta(d, "chinchilla-0")
    assert m["sources"]["tokens_total"] == "derived: D = C/(6N)"
    assert m["flops_convention"] == "C = 6*N*D"
    assert json.loads(r["tags"].iloc[0])["color"] == "#faebdd"


def test_final_table_synonyms(tmp_path):
    d = read_logs(SAMPLES / "final_isoflop.csv")  # columns hparams, flops, n, t, loss
    raw = pd.read_csv(SAMPLES / "final_isoflop.csv")
    assert len(d.runs) == len(raw) == 40
    np.testing.assert_allclose(d.runs["params"], raw["n"])
    np.testing.assert_allclose(d.runs["tokens_total"], raw["t"])
    np.testing.assert_allclose(d.runs["flops_total"], raw["flops"])
    p = tmp_path / "sweep.csv"
    p.write_text("name,params,tokens,final_loss\nsmall,1e6,2e7,4.5\nbig,1e7,2e8,3.9\n")
    d = read_logs(p)
    assert sniff(p) == "final"
    assert d.runs["run"].tolist() == ["small", "big"]
    np.testing.assert_allclose(d.runs["flops_total"], [6 * 1e6 * 2e7, 6 * 1e7 * 2e8])
    assert d.points["metric"].tolist() == ["final_loss", "final_loss"]
    p2 = tmp_path / "compute.csv"
    p2.write_text("N,compute,loss\n1e8,6e18,3.0\n")
    d2 = read_logs(p2)
    assert d2.runs["tokens_total"].iloc[0] == pytest.approx(1e10)
    assert d2.runs["run"].iloc[0] == "compute-0"


@needs_shared
def test_multipower_curves_keep_lr():
    files = sorted(SHARED.glob("multipower/*/*.csv"))
    d = read_logs(files)
    assert len(d.runs) == 27
    assert "25M/cosine_24000" in set(d.runs["run"])
    assert d.points["lr"].notna().all()
    raw = pd.read_csv(SHARED / "multipower" / "400M" / "wsd_20000_24000.csv")
    pts = d.points[d.points["run"] == "400M/wsd_20000_24000"]
    np.testing.assert_array_equal(pts["step"].to_numpy(dtype=int), raw["step"].to_numpy())
    np.testing.assert_allclose(pts["lr"], raw["lr"], rtol=0, atol=0)
    np.testing.assert_allclose(pts["value"], raw["loss"])
    assert d.runs.set_index("run").loc["400M/wsd_20000_24000", "params"] == 4e8


@needs_shared
def test_olmo_ladder_history_exports():
    files = sorted(SHARED.glob("olmo_ladder/ladder-runs/*.csv"))
    d = read_logs(files)
    assert sorted(d.runs["run"]) == sorted(f.stem for f in files)
    raw = pd.read_csv(SHARED / "olmo_ladder" / "ladder-runs" / "190M-5xC.csv")
    run = d.runs.set_index("run").loc["190M-5xC"]
    assert run["params"] == 1.9e8
    assert run["tokens_total"] == raw["throughput/total_tokens"].max()
    assert run["flops_total"] == pytest.approx(raw["throughput/total_training_Gflops"].max() * 1e9)
    assert run["lr_max"] == raw["learning_rate_peak"].iloc[-1]
    m = json.loads(run["meta"])
    assert m["sources"]["tokens_total"].startswith("column 'throughput/total_tokens'")
    assert m["sources"]["params"] == "run name '190M-5xC'"
    pts = d.points[d.points["run"] == "190M-5xC"]
    metric_cols = [c for c in raw.columns if c not in (
        "_step", "throughput/total_tokens", "throughput/total_training_Gflops",
        "optim/learning_rate_group0", "learning_rate_peak", "batch_size_in_tokens")]
    assert sorted(pts["metric"].unique()) == sorted(metric_cols)
    assert len(pts) == raw[metric_cols].notna().sum().sum()
    c4 = pts[pts["metric"] == "eval/c4_en-validation/CrossEntropyLoss"]
    np.testing.assert_allclose(c4["value"], raw["eval/c4_en-validation/CrossEntropyLoss"])
    np.testing.assert_allclose(c4["lr"], raw["optim/learning_rate_group0"])
    np.testing.assert_allclose(c4["tokens"], raw["throughput/total_tokens"])
    # the one export without steps has a tokens axis only
    anneal = d.points[d.points["run"] == "peteish7_eval_anneal"]
    assert anneal["step"].isna().all() and anneal["tokens"].notna().all()


def test_run_names_give_sizes():
    info = RunInfo("190M-5xC")
    info.from_name()
    assert info.values["params"] == 1.9e8
    assert info.values["tokens_total"] == pytest.approx(5 * 20 * 1.9e8)
    assert "derived" in info.sources["tokens_total"]
    info = RunInfo("gpt_nlayers12_nembd768_lr3e-4")
    info.from_name()
    assert info.values["params"] == 12 * 12 * 768**2
    assert info.params_convention == "non-embedding 12*L*d^2"
    for name in ("peteish7_eval_50k-150k", "run-seed3", "bs512k"):
        info = RunInfo(name)
        info.from_name()
        assert "params" not in info.values


@pytest.mark.parametrize("cfg, params", [
    # Llama-2-7B's config.json: 6.74B in all less 2 x 32,000 x 4,096 embeddings
    ({"hidden_size": 4096, "num_hidden_layers": 32, "intermediate_size": 11008,
      "hidden_act": "silu", "num_attention_heads": 32, "num_key_value_heads": 32}, 6_476_005_376),
    # Llama-3-8B: grouped KV heads (8 of 32), 8.03B in all less 2 x 128,256 x 4,096
    ({"hidden_size": 4096, "num_hidden_layers": 32, "intermediate_size": 14336,
      "hidden_act": "silu", "num_attention_heads": 32, "num_key_value_heads": 8}, 6_979_321_856),
    # GPT-2 small (n_inner null: 4d): Kaplan's 12 L d^2 = 84.9M
    ({"n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": None}, 84_934_656),
    # a decoder counted by its decoder layers and its own FFN width
    ({"d_model": 512, "num_decoder_layers": 6, "d_ff": 1024}, 6 * (4 * 512**2 + 2 * 512 * 1024)),
    ({"d_model": 256, "n_layers": 4, "mlp_ratio": 8}, 4 * (4 * 256**2 + 2 * 256 * 2048)),
])
def test_config_sizes_count_the_mlp_width_gate_and_kv_heads(cfg, params):
    info = RunInfo("run")
    info.from_config(cfg, "config.json")
    assert info.values["params"] == params
    assert info.params_convention.startswith("non-embedding ")
    assert info.sources["params"].startswith("config.json: ")


def test_wide_csv_and_tsv_samples():
    raw = pd.read_csv(SAMPLES / "wide.csv")
    d = read_logs(SAMPLES / "wide.csv")
    assert d.runs["run"].tolist() == ["wide"]
    np.testing.assert_array_equal(d.points["step"].to_numpy(dtype=int), raw["step"])
    np.testing.assert_allclose(d.points["lr"], raw["lr"])
    np.testing.assert_allclose(d.points["value"], raw["loss"])
    raw_t = pd.read_csv(SAMPLES / "wide.tsv", sep="\t")
    t = read_logs(SAMPLES / "wide.tsv")
    np.testing.assert_allclose(t.points["value"], raw_t["loss"])
    assert sniff(SAMPLES / "wide.tsv") == "csv"


def test_long_sample_and_options(tmp_path):
    d = read_logs(SAMPLES / "long.csv")
    raw = pd.read_csv(SAMPLES / "long.csv")
    assert sorted(d.runs["run"]) == sorted(raw["run"].unique())
    assert len(d.points) == len(raw) and d.points["lr"].notna().all()
    p = tmp_path / "log.csv"
    p.write_text("it,objective,rate,seen\n10,4.0,1e-3,1000\n20,3.5,1e-3,2000\n")
    d = read_logs(p, step_col="it", lr_col="rate", tokens_col="seen", run="mine", params=2e6)
    assert d.runs["run"].tolist() == ["mine"] and d.runs["params"].iloc[0] == 2e6
    assert d.points["metric"].tolist() == ["objective", "objective"]
    assert d.points["tokens"].tolist() == [1000.0, 2000.0]
    assert d.runs["tokens_total"].iloc[0] == 2000.0
    assert json.loads(d.runs["meta"].iloc[0])["sources"]["params"] == "option params"


def test_lr_logged_on_other_rows_attaches_by_step(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("step,loss,lr,val_loss\n10,4.0,,\n10,,0.001,\n20,3.5,0.002,3.6\n")
    d = read_logs(p)
    pts = d.points.set_index(["metric", "step"])
    assert pts.loc[("loss", 10), "lr"] == 0.001
    assert pts.loc[("val_loss", 20), "lr"] == 0.002
    assert len(d.points) == 3


def test_formats_registry_lists_every_family():
    assert {"csv", "final", "wandb", "wandb-panel", "wandb-run", "jsonl", "tensorboard", "hf",
            "lightning", "mlflow", "nanogpt", "megatron", "regex"} <= set(FORMATS)


def test_folder_of_logs_skips_non_logs_and_config_files_sniff(tmp_path):
    import shutil

    shutil.copy(SAMPLES / "wide.csv", tmp_path / "a.csv")
    shutil.copy(SAMPLES / "log.jsonl", tmp_path / "b.jsonl")
    (tmp_path / "README.md").write_text("# notes\n")
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    d = read_logs(tmp_path)
    assert sorted(d.runs["run"]) == ["a", "b"]
    run = SAMPLES / "wandb_run" / "offline-run-20240101_000000-190M1xC" / "files"
    assert sniff(run / "config.yaml") == "wandb-run"
    assert sniff(SAMPLES / "lightning" / "100M-wsd" / "version_0" / "hparams.yaml") == "lightning"
    assert len(read_logs(SAMPLES / "lightning" / "100M-wsd" / "version_0" / "hparams.yaml").points)


def test_config_beside_the_log(tmp_path):
    (tmp_path / "125M-run.csv").write_text("step,loss\n10,4.0\n20,3.5\n")
    (tmp_path / "125M-run.yaml").write_text("model:\n  n_layer: 4\n  d_model: 256\nseq_len: 1024\n")
    d = read_logs(tmp_path / "125M-run.csv")
    run = d.runs.iloc[0]
    assert run["params"] == 12 * 4 * 256**2  # the config beats the name's 125M
    assert run["seq_len"] == 1024
    assert json.loads(run["meta"])["sources"]["params"].startswith("125M-run.yaml")
    d = read_logs(tmp_path / "125M-run.csv", params=1e6)  # options beat the config
    assert d.runs["params"].iloc[0] == 1e6
    (tmp_path / "125M-run.yaml").write_text("model: [unclosed\n")
    from scalefit.errors import InputError

    with pytest.raises(InputError, match="125M-run.yaml"):
        read_logs(tmp_path / "125M-run.csv")
