"""Ladder corpora: folder and offline sources, a stable split, batches as a pure function of (seed, step)."""

import json

import numpy as np
import pytest

from scalefit.errors import InputError
from scalefit.ladder.data import _in_val, build_corpus, get_batch, open_corpus


def _folder(root, n=60):
    root.mkdir()
    (root / "sub").mkdir()
    for i in range(n):
        d = root / ("sub" if i % 3 else "")
        (d / f"f{i:03d}.py").write_text(f"def f{i}(x):\n    return x * {i} + {i % 7}\n" * 40)
    (root / "image.png").write_bytes(b"\x89PNG\x00\x01")  # skipped: not text
    return root


def test_folder_corpus(tmp_path):
    src = _folder(tmp_path / "src")
    c = build_corpus(tmp_path / "c", source=src, val_frac=0.2, log=lambda m: None)
    assert c.vocab_size == 256 and c.train.dtype == np.uint8
    assert c.meta["n_files"] == 60
    n_val = sum(_in_val(p.relative_to(src).as_posix(), 0.2) for p in src.rglob("*.py"))
    assert 0 < n_val < 60
    # every file ends with an end-of-text byte; total bytes add up
    assert int((c.train == 0).sum() + (c.val == 0).sum()) == 60
    assert c.meta["train_tokens"] + c.meta["val_tokens"] == c.meta["bytes"] + 60
    again = build_corpus(tmp_path / "c2", source=src, val_frac=0.2, log=lambda m: None)
    assert again.hash == c.hash
    np.testing.assert_array_equal(np.asarray(again.val), np.asarray(c.val))
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert meta["split"].startswith("sha256")


def test_split_is_stable_under_added_files(tmp_path):
    names = [f"pkg/mod{i}.py" for i in range(2000)]
    val = {n for n in names if _in_val(n, 0.05)}
    assert 0.03 < len(val) / len(names) < 0.07
    more = names + [f"other/x{i}.py" for i in range(500)]
    assert {n for n in more if _in_val(n, 0.05) and n in names} == val


def test_offline_default_corpus(tmp_path):
    msgs = []
    c = build_corpus(tmp_path / "off", offline=True, max_bytes=1_000_000, log=msgs.append)
    assert "offline fallback" in c.meta["source"]
    assert any("offline" in m for m in msgs)
    assert c.meta["train_tokens"] > 500_000 and c.meta["val_tokens"] > 0


def test_batches_are_a_pure_function_of_seed_and_step():
    tokens = np.arange(10_000) % 251
    tokens = tokens.astype(np.uint8)
    x1, y1 = get_batch(tokens, 32, 8, seed=3, step=17)
    x2, y2 = get_batch(tokens, 32, 8, seed=3, step=17)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(x1[:, 1:], y1[:, :-1])
    x3, _ = get_batch(tokens, 32, 8, seed=3, step=18)
    assert not np.array_equal(x1, x3)
    # a data-parallel rank's rows are rows of the global batch
    xr, _ = get_batch(tokens, 32, 8, seed=3, step=17, rows=slice(1, None, 2))
    np.testing.assert_array_equal(xr, x1[1::2])


def test_errors(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        build_corpus(tmp_path / "c", source=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="usable text files"):
        build_corpus(tmp_path / "c", source=tmp_path / "empty")
    with pytest.raises(InputError, match="not a ladder corpus"):
        open_corpus(tmp_path / "empty")
    with pytest.raises(InputError, match="fewer than"):
        get_batch(np.zeros(10, np.uint8), 32, 2, 0, 0)


def test_bpe_needs_tokenizers(tmp_path):
    src = _folder(tmp_path / "src")
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="tokenizers"):
            build_corpus(tmp_path / "c", source=src, tokenizer="bpe", val_frac=0.2)
        return
    c = build_corpus(tmp_path / "c", source=src, tokenizer="bpe", bpe_vocab=300, val_frac=0.2,
                     log=lambda m: None)
    assert c.train.dtype == np.uint16 and c.vocab_size <= 300
    assert (tmp_path / "c" / "tokenizer.json").exists()


def test_cli_and_plans_work_without_torch():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import scalefit, scalefit.ladder.plan as p\n"
        "from scalefit.cli import run\n"
        "assert run(['--help']) == 0\n"
        "assert run(['ladder', 'plan', '--preset', 'cpu-tiny', '--no-probe']) == 0\n"
        "assert run(['ladder', 'run', '--preset', 'cpu-smoke', '--store', 'x']) == 2\n"
        "assert p.make_plan('cpu-tiny').flops > 0\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "needs torch" in res.stderr
