"""The BPE option of the ladder corpus: trained here, saved with the corpus hash, lossless,
deterministic, and a ladder trains on it with its output layer sized to the vocabulary."""

import json

import numpy as np
import pytest

tokenizers = pytest.importorskip("tokenizers")

from scalefit.ladder.data import EOT, build_corpus  # noqa: E402


def _source(root):
    root.mkdir()
    for i in range(40):
        body = "".join(f"def handler_{i}_{j}(request, value={j}):\n"
                       f"    # résumé of step {j}\n    return request.get('k{i}', value * {i})\n\n"
                       for j in range(30))
        (root / f"mod{i:02d}.py").write_text(body, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def bpe_corpus(tmp_path_factory):
    src = _source(tmp_path_factory.mktemp("src") / "code")
    out = tmp_path_factory.mktemp("bpe")
    return src, build_corpus(out, source=src, tokenizer="bpe", bpe_vocab=400, val_frac=0.2,
                             log=lambda m: None)


def test_bpe_corpus_is_lossless_and_deterministic(bpe_corpus, tmp_path):
    src, c = bpe_corpus
    assert c.meta["tokenizer"] == "bpe" and c.train.dtype == np.uint16
    assert 256 < c.vocab_size <= 400
    assert int(np.asarray(c.train).max()) < c.vocab_size
    # the tokenizer is saved beside the corpus, also under the corpus hash
    assert (c.path / "tokenizer.json").exists()
    assert (c.path / f"tokenizer-{c.hash[:12]}.json").exists()
    tok = tokenizers.Tokenizer.from_file(str(c.path / "tokenizer.json"))
    eot = tok.token_to_id("<|eot|>")
    # decoding the validation tokens gives back the validation files, byte for byte
    ids = np.asarray(c.val).tolist()
    docs, cur = [], []
    for t in ids:
        if t == eot:
            docs.append(tok.decode(cur))
            cur = []
        else:
            cur.append(t)
    files = {p.read_text(encoding="utf-8") for p in src.glob("*.py")}
    assert docs and set(docs) <= files
    # BPE compresses: fewer tokens than bytes
    assert c.meta["train_tokens"] < 0.6 * c.meta["bytes"]
    again = build_corpus(tmp_path / "again", source=src, tokenizer="bpe", bpe_vocab=400,
                         val_frac=0.2, log=lambda m: None)
    assert again.hash == c.hash
    np.testing.assert_array_equal(np.asarray(again.train), np.asarray(c.train))
    assert EOT == 0 and json.loads((c.path / "meta.json").read_text())["vocab_size"] == c.vocab_size


def test_ladder_trains_on_a_bpe_corpus(bpe_corpus, tmp_path, capsys):
    pytest.importorskip("torch")
    from scalefit.cli import run as cli
    from scalefit.store import Store

    _, c = bpe_corpus
    rc = cli(["ladder", "run", "--preset", "cpu-smoke", "--store", str(tmp_path / "s"),
              "--corpus", str(c.path), "--rung", "L1-d32-t10", "--max-steps", "6",
              "--workers", "1", "--threads", "1", "--quiet"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    runs = Store(tmp_path / "s").runs.set_index("run")
    row = runs.loc["cpu-smoke/L1-d32-t10"]
    # untied embedding and head sized to the BPE vocabulary, not to 256 bytes
    assert row["params_total"] == 12 * 32**2 + 3 * 32 + 2 * c.vocab_size * 32
    meta = json.loads(row["meta"])
    assert meta["corpus_hash"] == c.hash and "bpe" in meta["corpus"]
    val = Store(tmp_path / "s").select(runs=["cpu-smoke/L1-d32-t10"], metric="val/loss")
    assert np.isfinite(val["value"]).all()
    assert val["value"].iloc[-1] < np.log(c.vocab_size)  # it learned something in 6 steps
