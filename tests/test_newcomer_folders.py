"""A folder is read whole: every log in it and below it, or listed as skipped with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scalefit.cli import run as cli
from scalefit.io import read_logs
from scalefit.store import Store

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"

# every sample log, with the format it is read as (written down here, not derived from the code)
EXPECTED = {
    "final_isoflop.csv": "final",
    "hf/100M-cosine": "hf",
    "lightning/100M-wsd/version_0": "lightning",
    "log.jsonl": "jsonl",
    "long.csv": "csv",
    "megatron.log": "megatron",
    "mlruns": "mlflow",
    "nanogpt.log": "nanogpt",
    "tensorboard": "tensorboard",  # a log dir read whole: one run per sub-folder
    "wandb_history/190M-1xC.csv": "wandb",
    "wandb_panel.csv": "wandb-panel",
    "wandb_run/offline-run-20240101_000000-190M1xC": "wandb-run",
    "wide.csv": "csv",
    "wide.tsv": "csv",
}
# left out, each with the word its reason must hold
SKIPPED = {"custom.log": "unknown format", "make_samples.py": "not a log"}


def _rel(p: str) -> str:
    return Path(p).resolve().relative_to(SAMPLES).as_posix()


def test_samples_folder_reads_every_log():
    data = read_logs(SAMPLES)
    got = {_rel(p): f for p, f in data.files}
    assert got == EXPECTED
    assert len(data.files) == len(EXPECTED)
    assert {_rel(p): r for p, r in data.skipped}.keys() == SKIPPED.keys()
    for p, why in data.skipped:
        assert SKIPPED[_rel(p)] in why
    text = data.read_summary()
    n_formats = len(set(EXPECTED.values()))
    assert text.startswith(f"read {len(EXPECTED)} files ({n_formats} formats), skipped 2: ")
    assert "custom.log (unknown format" in text


def test_same_stem_files_are_two_runs():
    data = read_logs(SAMPLES)
    names = data.runs["run"].tolist()
    assert "wide.csv" in names and "wide.tsv" in names
    assert len(names) == len(set(names))


def test_ingest_cli_folder(tmp_path, capsys):
    store = tmp_path / "st"
    assert cli(["ingest", str(SAMPLES), "--store", str(store), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["files_read"]) == len(EXPECTED)
    assert sorted(Path(s["path"]).name for s in out["skipped"]) == sorted(SKIPPED)
    assert cli(["ingest", str(SAMPLES), "--store", str(tmp_path / "st2")]) == 0
    text = capsys.readouterr().out
    assert f"read {len(EXPECTED)} files" in text and "skipped 2" in text
    assert len(Store(store, create=False)) == len(read_logs(SAMPLES).runs)


def _lightning_tree(root: Path, versions: int) -> Path:
    """The layout CSVLogger writes: lightning_logs/version_K/{metrics.csv,hparams.yaml},
    beside checkpoints/."""
    logs = root / "lightning_logs"
    for v in range(versions):
        d = logs / f"version_{v}"
        (d / "checkpoints").mkdir(parents=True)
        (d / "checkpoints" / "epoch=0-step=30.ckpt").write_bytes(b"\x80\x04binary")
        (d / "hparams.yaml").write_text(f"n_params: {1e6 * (v + 1):g}\nlr: 0.001\n")
        rows = ["epoch,step,train_loss,lr-AdamW"]
        rows += [f"0,{s},{4.0 - 0.01 * s - 0.1 * v:.4f},0.001" for s in range(0, 30, 3)]
        (d / "metrics.csv").write_text("\n".join(rows) + "\n")
    return logs


def test_lightning_tree(tmp_path):
    logs = _lightning_tree(tmp_path, 3)
    data = read_logs(logs)
    assert [f for _, f in data.files] == ["lightning"] * 3
    assert sorted(data.runs["run"]) == [f"lightning_logs/version_{v}" for v in range(3)]
    assert data.runs.set_index("run")["params"].to_dict() == pytest.approx(
        {f"lightning_logs/version_{v}": 1e6 * (v + 1) for v in range(3)})
    n = data.points.groupby("run").size()
    assert (n >= 10).all()
    # from the project folder above it too
    assert len(read_logs(tmp_path).files) == 3


def test_sample_lightning_folder():
    data = read_logs(SAMPLES / "lightning")
    assert [f for _, f in data.files] == ["lightning"]
    assert data.runs["run"].tolist() == ["100M-wsd/version_0"]


def test_folder_with_nothing_readable(tmp_path):
    (tmp_path / "notes.md").write_text("# notes\n")
    (tmp_path / "run.txt").write_text("nothing to see\n")
    from scalefit.errors import InputError

    with pytest.raises(InputError, match="no log file") as exc:
        read_logs(tmp_path)
    assert "notes.md" in str(exc.value) and "run.txt" in str(exc.value)


def test_config_beside_is_not_a_log(tmp_path):
    (tmp_path / "a.csv").write_text("step,loss\n1,3.0\n2,2.9\n3,2.8\n")
    (tmp_path / "a.json").write_text('{"n_params": 5e6}')
    (tmp_path / "config.yaml").write_text("lr: 0.1\n")
    data = read_logs(tmp_path)
    assert [Path(p).name for p, _ in data.files] == ["a.csv"]
    assert {Path(p).name: r for p, r in data.skipped} == {
        "a.json": "config, read with its log", "config.yaml": "config, read with its log"}
    assert data.runs["params"].iloc[0] == pytest.approx(5e6)


def test_walk_of_a_hostile_tree(tmp_path):
    (tmp_path / "ok.csv").write_text("step,loss\n1,3.0\n2,2.9\n")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    deep = tmp_path
    for i in range(40):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "deep.csv").write_text("step,loss\n1,3.0\n2,2.9\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.csv").write_text("step,loss\n1,3.0\n")
    data = read_logs(tmp_path)
    assert [Path(p).name for p, _ in data.files] == ["ok.csv"]
    why = {Path(p).name: r for p, r in data.skipped}
    assert "symbolic link" in why["loop"]
    assert any("folders deep" in r for r in why.values())
