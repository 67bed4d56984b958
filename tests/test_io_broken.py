"""Every reader on broken variants of its sample: each is read or fails with an InputError that
names the file, and a failed `scalefit ingest` leaves the store byte-for-byte unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _samples import SAMPLE_OF, SAMPLES

from scalefit import cli
from scalefit.errors import InputError
from scalefit.io import read_logs

# format -> (path inside SAMPLES given to the reader, main file inside it, read options):
# every reader's sample, plus the TSV and long-CSV variants of the csv reader
CASES = {**SAMPLE_OF, "tsv": ("wide.tsv", None, {}), "long": ("long.csv", None, {})}
TEXT_TABLES = {"csv", "tsv", "long", "final", "wandb", "wandb-panel", "lightning"}


def _copy(tmp: Path, fmt: str, name: str | None = None) -> tuple[Path, Path, dict]:
    rel, main, opts = CASES[fmt]
    src = SAMPLES / rel
    dst = tmp / (name or Path(rel).name)
    if src.is_dir():
        shutil.copytree(src, dst)
        main_file = next(dst.glob(main))
    else:
        if name and not name.endswith(src.suffix):
            dst = dst.with_suffix(src.suffix)
        shutil.copy(src, dst)
        main_file = dst
    return dst, main_file, opts


def _digest(folder: Path) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
            for n in sorted(os.listdir(folder)) if not n.startswith(".lock")}


@pytest.fixture()
def store(tmp_path):
    s = tmp_path / "store"
    assert cli.run(["ingest", str(SAMPLES / "wide.csv"), "--store", str(s)]) == 0
    return s


def _expect_error(path: Path, named: Path, opts: dict, store: Path, capsys) -> InputError:
    with pytest.raises(InputError) as exc:
        read_logs(path, **opts)
    assert str(named) in str(exc.value) or str(path) in str(exc.value)
    before = _digest(store)
    argv = ["ingest", str(path), "--store", str(store)]
    for k, v in opts.items():
        argv += [f"--{k.replace('_', '-')}", v]
    capsys.readouterr()
    assert cli.run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert _digest(store) == before
    return exc.value


def _mutate_text(main: Path, fn) -> None:
    main.write_text(fn(main.read_text(encoding="utf-8")), encoding="utf-8")


@pytest.mark.parametrize("fmt", list(CASES))
def test_empty(tmp_path, store, capsys, fmt):
    path, main, opts = _copy(tmp_path, fmt)
    main.write_bytes(b"")
    _expect_error(path, main, opts, store, capsys)


@pytest.mark.parametrize("fmt", list(CASES))
def test_random_bytes(tmp_path, store, capsys, fmt):
    path, main, opts = _copy(tmp_path, fmt)
    main.write_bytes(np.random.default_rng(1).bytes(2000))
    _expect_error(path, main, opts, store, capsys)


@pytest.mark.parametrize("fmt", list(CASES))
def test_truncated(tmp_path, store, capsys, fmt):
    path, main, opts = _copy(tmp_path, fmt)
    data = main.read_bytes()
    cut = int(len(data) * 0.6)
    while data[cut - 1:cut] in (b"\n", b"\r", b",", b"\t"):  # end mid-field
        cut += 1
    main.write_bytes(data[:cut])
    if fmt in ("nanogpt", "megatron", "regex"):
        # a log of a running or killed job: the complete lines are read, the cut one is left out
        d = read_logs(path, **opts)
        n_complete = data[:cut].count(b"\n")
        assert 0 < len(d.points) <= n_complete
        assert not np.isnan(d.points["value"]).any()
        return
    if fmt in TEXT_TABLES:
        # a cut inside the last field leaves a full row: read, with a warning
        try:
            d = read_logs(path, **opts)
        except InputError:
            pass
        else:
            assert any("no line end" in n for n in d.notes)
            return
    _expect_error(path, main, opts, store, capsys)


@pytest.mark.parametrize("fmt", sorted(TEXT_TABLES | {"jsonl", "hf", "mlflow"}))
def test_non_numeric_value(tmp_path, store, capsys, fmt):
    path, main, opts = _copy(tmp_path, fmt)
    if fmt in TEXT_TABLES:
        def bad(text):
            lines = text.splitlines(keepends=True)
            sep = "\t" if "\t" in lines[0] else ","
            cells = lines[3].rstrip("\n").split(sep)
            header = lines[0].rstrip("\n").split(sep)
            j = max(i for i, h in enumerate(header)
                    if ("loss" in h.lower() or h == "value") and not h.endswith(("__MIN", "__MAX"))
                    and cells[i])
            cells[j] = "abc"
            lines[3] = sep.join(cells) + "\n"
            return "".join(lines)
    elif fmt == "jsonl":
        def bad(text):
            lines = text.splitlines(keepends=True)
            rec = json.loads(lines[2])
            rec["train"]["loss"] = "abc"
            lines[2] = json.dumps(rec) + "\n"
            return "".join(lines)
    elif fmt == "hf":
        def bad(text):
            state = json.loads(text)
            state["log_history"][2]["loss"] = "abc"
            return json.dumps(state)
    else:
        def bad(text):
            lines = text.splitlines(keepends=True)
            t, _, s = lines[2].split()
            lines[2] = f"{t} abc {s}\n"
            return "".join(lines)
    _mutate_text(main, bad)
    err = _expect_error(path, main, opts, store, capsys)
    assert "abc" in str(err)


@pytest.mark.parametrize("fmt", ["csv", "final", "wandb", "jsonl", "hf", "mlflow", "nanogpt"])
def test_wrong_columns(tmp_path, store, capsys, fmt):
    path, main, opts = _copy(tmp_path, fmt)
    if fmt in ("csv", "wandb"):
        _mutate_text(main, lambda t: t.replace("_step", "when", 1).replace("step", "when", 1)
                     .replace("throughput/total_tokens", "tt", 1))
    elif fmt == "final":
        _mutate_text(main, lambda t: t.replace("loss", "score", 1))
    elif fmt == "jsonl":
        _mutate_text(main, lambda t: t.replace('"step"', '"when"'))
    elif fmt == "hf":
        _mutate_text(main, lambda t: t.replace('"log_history"', '"history"'))
    elif fmt == "mlflow":
        _mutate_text(main, lambda t: t.replace(" ", ";"))
    else:
        _mutate_text(main, lambda t: t.replace("iter ", "it "))
        opts = {"preset": "nanogpt"}
    _expect_error(path, main, opts, store, capsys)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "wandb", "lightning", "jsonl", "nanogpt", "megatron",
                                 "regex", "hf", "mlflow"])
def test_duplicate_and_decreasing_steps_are_read_later_wins(tmp_path, fmt):
    path, main, opts = _copy(tmp_path, fmt)
    first = read_logs(path, **opts)
    if fmt == "hf":
        state = json.loads(main.read_text())
        hist = state["log_history"]
        restart = [dict(h, loss=h["loss"] + 1.0) for h in hist[10:15] if "loss" in h]
        state["log_history"] = hist[:20] + restart
        main.write_text(json.dumps(state))
        n_restart_steps = len(restart)
    else:
        lines = main.read_text().splitlines(keepends=True)
        head = 1 if fmt in TEXT_TABLES else 0
        if fmt in ("nanogpt", "megatron"):
            head = 1  # their preamble line
        body = lines[head:]
        if fmt == "lightning":
            body = body[:40] + body[20:30]  # rows come in (loss, lr) pairs
            n_restart_steps = 5
        else:
            body = body[:20] + body[10:15]  # restart from an earlier step, then stop
            n_restart_steps = 5
        main.write_text("".join(lines[:head] + body))
    d = read_logs(path, **opts)
    m = json.loads(d.runs["meta"].iloc[0])
    assert m["restarts"] >= 1 and m["superseded_points"] >= n_restart_steps
    assert any("restart" in n for n in d.notes)
    # after a restart at step s, the earlier points from s on are replaced
    metric = first.points["metric"].iloc[0]
    pts = d.points[d.points["metric"] == metric]
    steps = pts["step"].to_numpy(dtype=int)
    assert len(np.unique(steps)) == len(steps)
    if fmt == "hf":
        assert pts["value"].iloc[-1] == pytest.approx(first.points["value"].iloc[14] + 1.0)


def test_duplicate_steps_later_value_wins(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("step,loss\n1,5.0\n2,4.0\n2,3.9\n3,3.5\n")
    d = read_logs(p)
    assert d.points["step"].tolist() == [1, 2, 3]
    assert d.points["value"].tolist() == [5.0, 3.9, 3.5]
    assert json.loads(d.runs["meta"].iloc[0])["duplicate_steps"] == 1


@pytest.mark.parametrize("fmt", list(CASES))
def test_non_ascii_run_names(tmp_path, fmt):
    name = "训练-ünïcode"
    path, _, opts = _copy(tmp_path, fmt, name=name)
    d = read_logs(path, **opts)
    assert len(d.points) > 0
    if fmt not in ("wandb-run", "mlflow", "long", "final", "wandb-panel", "tensorboard"):
        assert any(name in r for r in d.runs["run"])
    s = tmp_path / "s"
    assert cli.run(["ingest", str(path), "--store", str(s), *sum(
        ([f"--{k}", v] for k, v in opts.items()), [])]) == 0
    d2 = read_logs(path, run="模型-1", **opts)
    assert "模型-1" in set(d2.runs["run"]) or fmt in ("long", "final", "wandb-panel")


def test_missing_path_and_bad_format(tmp_path, store, capsys):
    _expect_error(tmp_path / "nope.csv", tmp_path / "nope.csv", {}, store, capsys)
    before = _digest(store)
    assert cli.run(["ingest", str(SAMPLES / "wide.csv"), "--store", str(store),
                    "--format", "parquet"]) == 2
    assert "unknown format" in capsys.readouterr().err
    assert _digest(store) == before


def test_one_bad_file_among_good_ones_changes_nothing(tmp_path, store, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("step,loss\n1,2.0\n2,abc\n3,1.0\n")
    before = _digest(store)
    assert cli.run(["ingest", str(SAMPLES / "long.csv"), str(bad), "--store", str(store)]) == 2
    assert str(bad) in capsys.readouterr().err
    assert _digest(store) == before
