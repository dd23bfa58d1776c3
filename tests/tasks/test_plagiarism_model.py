"""The attention-based BiLSTM pair classifier and the text-pair task's preprocessor, metrics,
loss choice and raw-input adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from attnkit.data.splits import DataSplit
from attnkit.errors import AttnkitError, ConfigError, DataError
from attnkit.layers import AdditiveAttention, SoftAlignment
from attnkit.tasks.text_pairs import AttentionPairClassifier, TextPairPreprocessor, TextPairTask
from attnkit.tasks.text_pairs.metrics import pair_metrics
from attnkit.tasks.text_pairs.model import INTERACTIONS, exact_match_feature
from attnkit.training.losses import FocalLoss

VOCAB = 24


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(3)


def tiny_model(**overrides) -> AttentionPairClassifier:
    arguments = dict(vocabulary_size=VOCAB, num_classes=2, embedding_dim=8, units=4,
                     attention_units=4, hidden_units=6, dropout=0.0)
    arguments.update(overrides)
    return AttentionPairClassifier(**arguments)


def pair_problem(size: int = 64, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Label 1 when text b repeats text a (shuffled), 0 when b is other tokens; padded."""
    rng = np.random.default_rng(seed)
    ids_a = np.zeros((size, 7), "int32")
    ids_b = np.zeros((size, 8), "int32")
    labels = (np.arange(size) % 2).astype("int32")
    for row in range(size):
        length = int(rng.integers(3, 8))
        ids_a[row, :length] = rng.choice(np.arange(2, VOCAB), size=length, replace=False)
        if labels[row]:
            ids_b[row, :length] = rng.permutation(ids_a[row, :length])
        else:
            others = np.setdiff1d(np.arange(2, VOCAB), ids_a[row, :length])
            ids_b[row, :length] = rng.choice(others, size=length, replace=False)
    return {"token_ids_a": ids_a, "token_ids_b": ids_b}, labels


def test_exact_match_marks_shared_tokens_and_never_padding() -> None:
    ids_a = np.array([[3, 4, 5, 0]])
    ids_b = np.array([[5, 0, 3]])
    match = keras.ops.convert_to_numpy(exact_match_feature(ids_a, ids_b))
    assert match[..., 0].tolist() == [[1.0, 0.0, 1.0, 0.0]]


def test_soft_alignment_ignores_padding() -> None:
    a = np.random.default_rng(0).normal(size=(1, 2, 3)).astype("float32")
    b = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [9.0, 9.0, 9.0]]], "float32")
    aligned_a, aligned_b = SoftAlignment()(a, b, mask_a=np.array([[True, True]]),
                                           mask_b=np.array([[True, True, False]]))
    aligned_a = keras.ops.convert_to_numpy(aligned_a)
    assert np.all(aligned_a[..., 2] == 0.0)  # the padded b position (9, 9, 9) got no weight
    assert np.all(aligned_a[..., :2] > 0.0)
    assert keras.ops.convert_to_numpy(aligned_b).shape == (1, 3, 3)


@pytest.mark.parametrize("interaction", INTERACTIONS)
@pytest.mark.parametrize("exact_match", [True, False])
def test_the_pair_model_learns_a_small_pair_problem(interaction: str, exact_match: bool) -> None:
    model = tiny_model(interaction=interaction, exact_match=exact_match)
    inputs, labels = pair_problem()
    probabilities = model.predict(inputs, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=FocalLoss(gamma=2.0))
    before = model.evaluate(inputs, labels, verbose=0)
    model.fit(inputs, labels, batch_size=16, epochs=6, verbose=0, shuffle=False)
    after = model.evaluate(inputs, labels, verbose=0)
    assert after < 0.8 * before
    # Shared weights: one embedding, one encoder, one attention layer for both texts.
    assert sum(isinstance(layer, AdditiveAttention) for layer in model.layers) == 1
    weights_a, weights_b = model.pair_attention(inputs)
    np.testing.assert_allclose(weights_a.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(weights_b[inputs["token_ids_b"] == 0] == 0.0)


def test_frozen_embeddings_are_left_out_of_the_trainable_weights() -> None:
    frozen = tiny_model(freeze_embeddings=True)
    assert not frozen.get_layer("embedding").trainable
    names = {v.path for v in frozen.trainable_weights}
    assert not any("embedding" in name for name in names)
    assert len(tiny_model().trainable_weights) == len(frozen.trainable_weights) + 1


FRESH_PROCESS = """
import json, sys
import numpy as np
import attnkit, keras
inputs = dict(np.load(sys.argv[1]))
answers = {}
for path in sys.argv[2:]:
    model = keras.saving.load_model(path)
    answers[path] = model.predict(inputs, verbose=0).tolist()
print(json.dumps(answers))
"""


def test_saved_pair_models_reload_with_identical_predictions(tmp_path: Path) -> None:
    inputs, labels = pair_problem(size=16)
    expected = {}
    for interaction in INTERACTIONS:
        extras = {"overlap_features": True, "overlap_ngrams": 3, "embedding_similarity": True}
        model = tiny_model(interaction=interaction, freeze_embeddings=True,
                           **(extras if interaction == "cross" else {}))
        model.compile(optimizer="adam", loss=FocalLoss(alpha=0.25))
        model.train_on_batch(inputs, labels)  # weights differ from their initial values
        path = tmp_path / f"{interaction}.keras"
        model.save(path)
        expected[str(path)] = model.predict(inputs, verbose=0)
        reloaded = keras.saving.load_model(path)
        assert isinstance(reloaded, AttentionPairClassifier)
        assert reloaded.get_config() == model.get_config()
        np.testing.assert_array_equal(reloaded.predict(inputs, verbose=0), expected[str(path)])
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "inputs.npz"), *expected],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    answers = json.loads(completed.stdout.strip().splitlines()[-1])
    for path, probabilities in expected.items():
        np.testing.assert_allclose(np.array(answers[path], "float32"), probabilities, atol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"interaction": "both"}, "interaction"), ({"num_classes": 1}, "num_classes"),
     ({"vocabulary_size": 2}, "vocabulary_size"), ({"overlap_ngrams": 4}, "overlap_ngrams"),
     ({"overlap_ngrams": 0}, "overlap_ngrams")],
)
def test_bad_model_arguments(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_model(**overrides)


# --- preprocessor, metrics, task glue -------------------------------------------------------

TEXTS_A = ["the firm bought the bank", "rain fell", "the court backed the deal"]
TEXTS_B = ["the bank was bought by the firm", "sun shone", "judges backed the deal"]


def test_preprocessor_puts_the_positive_label_last_and_round_trips() -> None:
    pre = TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, ["yes", "no", "yes"], min_frequency=1,
                                   positive_label="no")
    assert pre.labels == ["yes", "no"] and pre.positive_index == 1
    ids_a, ids_b = pre.encode_pairs(["The FIRM bought", ""], ["unseen words", "bank"])
    firm = pre.tokenizer.token_to_id("firm")
    assert ids_a == [[pre.tokenizer.token_to_id("the"), firm, pre.tokenizer.token_to_id("bought")], [1]]
    assert ids_b[0] == [1, 1]  # both unknown
    clone = TextPairPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert clone.encode_pairs(TEXTS_A, TEXTS_B) == pre.encode_pairs(TEXTS_A, TEXTS_B)
    assert (clone.labels, clone.positive_label) == (pre.labels, pre.positive_label)
    numeric = TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, ["10", "2", "1"], min_frequency=1,
                                       positive_label="2")
    assert numeric.labels == ["1", "10", "2"]


def test_preprocessor_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="positive_label='1' is not a label"):
        TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, ["a", "b", "a"], min_frequency=1)
    with pytest.raises(DataError, match="at least 2 distinct labels"):
        TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, ["1", "1", "1"], min_frequency=1)
    pre = TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, ["1", "0", "1"], min_frequency=1)
    frame = TextPairTask().parse_raw(list(zip(TEXTS_A, TEXTS_B, strict=True)))
    frame = frame.with_columns(label=np.array(["1", "maybe", "0"]), _line=np.array([2, 3, 4]))
    with pytest.raises(DataError, match="label 'maybe'") as caught:
        pre.encode_labels(DataSplit("dev", tmp_path / "dev.csv", frame))
    assert (caught.value.line, caught.value.field) == (3, "label")


def test_pair_metrics_match_sklearn() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, 50)
    positive = np.clip(targets * 0.6 + rng.random(50) * 0.5, 0, 1)
    probabilities = np.stack([1 - positive, positive], axis=1)
    metrics = pair_metrics(targets, probabilities, positive_index=1)
    predicted = probabilities.argmax(axis=1)
    assert metrics["f1"] == pytest.approx(f1_score(targets, predicted))
    assert metrics["precision"] == pytest.approx(precision_score(targets, predicted))
    assert metrics["recall"] == pytest.approx(recall_score(targets, predicted))
    assert {"accuracy", "macro_f1", "auc", "loss"} <= set(metrics)


def test_loss_choice_comes_from_the_training_section() -> None:
    task = TextPairTask()
    default = task.loss()
    assert isinstance(default, FocalLoss) and default.gamma == 2.0 and default.alpha == -1.0
    focal = task.loss({"training": {"loss": "focal", "focal_alpha": 0.3, "focal_gamma": 1.0}})
    assert (focal.alpha, focal.gamma, focal.positive_class) == (0.3, 1.0, -1)
    plain = task.loss({"training": {"loss": "cross_entropy"}})
    assert isinstance(plain, keras.losses.SparseCategoricalCrossentropy)
    with pytest.raises(ConfigError, match="training.loss must be one of"):
        task.loss({"training": {"loss": "hinge"}})
    with pytest.raises(ConfigError, match="gamma"):
        task.loss({"training": {"focal_gamma": -2.0}})


def test_parse_raw_accepts_records_pairs_and_frames() -> None:
    import pandas as pd

    task = TextPairTask()
    expected = [{"text_a": "a", "text_b": "b"}, {"text_a": "c", "text_b": "d"}]
    assert task.parse_raw([{"text_a": "a", "text_b": "b"}, ("c", "d")]).to_dicts() == expected
    assert task.parse_raw({"text_a": "a", "text_b": "b"}).to_dicts() == expected[:1]
    frame = pd.DataFrame({"text_b": ["b", "d"], "text_a": ["a", "c"], "id": [1, 2]})
    assert task.parse_raw(frame).to_dicts() == expected
    with pytest.raises(AttnkitError, match="no 'text_b' column"):
        task.parse_raw(pd.DataFrame({"text_a": ["x"]}))
    with pytest.raises(AttnkitError, match="record 1: field 'text_b' must be a string, got int"):
        task.parse_raw([("a", "b"), {"text_a": "c", "text_b": 3}])
    with pytest.raises(AttnkitError, match="record 0: expected an object"):
        task.parse_raw(["only one text"])


def test_format_outputs_and_explain() -> None:
    task = TextPairTask()
    pre = TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, ["1", "0", "1"], min_frequency=1)
    model = AttentionPairClassifier(vocabulary_size=pre.vocabulary_size, num_classes=2,
                                    embedding_dim=4, units=2, attention_units=3, hidden_units=0)
    frame = task.parse_raw([("The firm bought", "the bank"), ("rain fell", "sun shone today")])
    answers = task.format_outputs(pre, frame, np.array([[0.3, 0.7], [0.9, 0.1]]))
    assert answers == [
        {"label": "1", "probabilities": {"0": 0.3, "1": 0.7}},
        {"label": "0", "probabilities": {"0": 0.9, "1": 0.1}},
    ]
    explanations = task.explain(model, pre, frame, batch_size=1)
    assert [token for token, _ in explanations[0]["text_a"]] == ["The", "firm", "bought"]
    assert [token for token, _ in explanations[1]["text_b"]] == ["sun", "shone", "today"]
    for explanation in explanations:
        for field in ("text_a", "text_b"):
            assert sum(w for _, w in explanation[field]) == pytest.approx(1.0, abs=1e-5)


def test_overlap_statistics_by_hand() -> None:
    from attnkit.tasks.text_pairs.model import overlap_statistics

    ids_a, ids_b = np.array([[3, 4, 5, 6], [7, 0, 0, 0]]), np.array([[4, 9, 0], [8, 9, 10]])
    stats = keras.ops.convert_to_numpy(overlap_statistics(
        exact_match_feature(ids_a, ids_b), exact_match_feature(ids_b, ids_a), ids_a != 0, ids_b != 0))
    np.testing.assert_allclose(stats, [[1 / 4, 1 / 2, 2 / 4], [0.0, 0.0, 1 / 3]], atol=1e-6)
    model = tiny_model(overlap_features=True, overlap_ngrams=3, embedding_similarity=True)
    inputs, labels = pair_problem(size=32)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    history = model.fit(inputs, labels, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def bert_pair_model(**overrides) -> AttentionPairClassifier:
    return tiny_model(bert_layers=1, bert_heads=2, bert_intermediate_size=8, cls_id=2, sep_id=3,
                      **overrides)


def test_contextual_bert_embeddings_load_train_and_save(
    tmp_path: Path, write_hf_checkpoint
) -> None:
    source = bert_pair_model()
    write_hf_checkpoint(source.get_layer("bert"), tmp_path / "ckpt")
    model = bert_pair_model(freeze_embeddings=True)
    recipe = {"preprocess": {"pretrained": str(tmp_path / "ckpt")}, "model": {"bert_layers": 1}}
    TextPairTask().initialize_model(model, None, recipe)
    for mine, theirs in zip(model.get_layer("bert").weights, source.get_layer("bert").weights,
                            strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine),
                                      keras.ops.convert_to_numpy(theirs))
    assert not any("bert" in v.path for v in model.trainable_weights)  # frozen BERT
    inputs, labels = pair_problem(size=16)
    model.compile(optimizer="adam", loss=FocalLoss())
    model.fit(inputs, labels, epochs=1, verbose=0)
    assert model.get_layer("bert")._cache  # a frozen encoder caches the texts it has seen
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0),
                               atol=1e-6)
    with pytest.raises(ConfigError, match="bert_layers needs preprocess.pretrained"):
        TextPairTask().initialize_model(model, None, {"preprocess": {"pretrained": ""},
                                                      "model": {"bert_layers": 1}})
    with pytest.raises(ValueError, match="\\[CLS\\] and \\[SEP\\]"):
        tiny_model(bert_layers=1)


def test_frozen_bert_outputs_persist_in_a_disk_cache_keyed_by_the_weights(
    tmp_path: Path, write_hf_checkpoint
) -> None:
    source = bert_pair_model()
    write_hf_checkpoint(source.get_layer("bert"), tmp_path / "ckpt")
    recipe = {"preprocess": {"pretrained": str(tmp_path / "ckpt")}, "model": {"bert_layers": 1}}
    inputs, _ = pair_problem(size=16)
    first = bert_pair_model(freeze_embeddings=True)
    TextPairTask().initialize_model(first, None, recipe)  # ATTNKIT_HOME is tmp_path/.attnkit
    folder = first.get_layer("bert")._disk_cache
    assert folder is not None and folder.parent == tmp_path / ".attnkit" / "cache" / "bert"
    expected = first.predict(inputs, verbose=0)
    assert list(folder.glob("*.npz")) and not list(folder.glob("*.part"))
    (folder / "broken.npz").write_bytes(b"not a zip file")  # e.g. another process's leftovers

    second = bert_pair_model(freeze_embeddings=True)
    second.set_weights(first.get_weights())
    TextPairTask().initialize_model(second, None, recipe)
    bert = second.get_layer("bert")
    assert bert._disk_cache == folder
    assert len(bert._cache) == len(first.get_layer("bert")._cache)  # loaded before any call
    bert._encode = None  # every text must now come from the cache, not from BERT
    np.testing.assert_array_equal(second.predict(inputs, verbose=0), expected)

    other = bert_pair_model()  # other weights: another fingerprint, another folder
    write_hf_checkpoint(other.get_layer("bert"), tmp_path / "other")
    third = bert_pair_model(freeze_embeddings=True)
    TextPairTask().initialize_model(
        third, None, {**recipe, "preprocess": {"pretrained": str(tmp_path / "other")}})
    assert third.get_layer("bert")._disk_cache not in (None, folder)
    assert not third.get_layer("bert")._cache

    for trainable, switch in ((False, False), (True, True)):  # off by switch / fine-tuned BERT
        model = bert_pair_model(freeze_embeddings=not trainable)
        TextPairTask().initialize_model(
            model, None, {**recipe, "training": {"bert_disk_cache": switch}})
        assert model.get_layer("bert")._disk_cache is None


def test_ngram_overlap_and_mean_cosine_by_hand() -> None:
    from attnkit.tasks.text_pairs.model import mean_cosine, ngram_ids, ngram_overlap

    ids_a = np.array([[3, 4, 5, 6], [7, 0, 0, 0], [5, 6, 5, 6]])
    ids_b = np.array([[3, 4, 9, 0], [7, 8, 0, 0], [6, 5, 6, 0]])
    bigrams = keras.ops.convert_to_numpy(ngram_ids(ids_a, 2))
    assert bigrams.shape == (3, 3) and np.all(bigrams[1] == 0)  # padding never forms an n-gram
    assert bigrams[2, 0] == bigrams[2, 2] != bigrams[2, 1]
    # a's bigrams 34 45 56 / b's 34 49: 1 of 3 and 1 of 2; (7, 8) has no partner in a;
    # 56 65 56 / 65 56: all of them found both ways.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ngram_overlap(ids_a, ids_b, 2)),
                               [[1 / 3, 1 / 2], [0, 0], [1, 1]], atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ngram_overlap(ids_a, ids_b, 3)),
                               [[0, 0], [0, 0], [1 / 2, 1]], atol=1e-6)
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype("float32")
    y = x.copy()
    y[1, 1:] = 100.0  # padding positions of row 1 do not count
    y[2] = -x[2]
    cosine = keras.ops.convert_to_numpy(mean_cosine(x, y, ids_a != 0, ids_a != 0))[:, 0]
    np.testing.assert_allclose(cosine, [1.0, 1.0, -1.0], atol=1e-5)


# --- Sentence-BERT features of a frozen sentence encoder ------------------------------------

def sentence_pair_model(**overrides) -> AttentionPairClassifier:
    arguments = dict(sentence_features=True, sentence_layers=1, bert_heads=2,
                     bert_intermediate_size=8, cls_id=2, sep_id=3)
    return tiny_model(**{**arguments, **overrides})


def test_sentence_encoder_mean_pools_cls_tokens_and_sep_then_normalises() -> None:
    from attnkit.layers import SentenceEncoder

    encoder = SentenceEncoder(VOCAB, 8, 1, 2, 8, max_positions=16, cls_id=2, sep_id=3)
    ids = np.array([[5, 6, 7, 0], [9, 0, 0, 0]])
    vectors = keras.ops.convert_to_numpy(encoder(ids))
    assert vectors.shape == (2, 8)
    for row, length in enumerate((3, 1)):
        wrapped = np.array([[2, *ids[row, :length], 3]])
        expected = keras.ops.convert_to_numpy(encoder.contextual(wrapped)).mean(axis=1)[0]
        np.testing.assert_allclose(vectors[row], expected / np.linalg.norm(expected), atol=1e-5)
    # padding after the text changes nothing
    longer = np.pad(ids, [[0, 0], [0, 3]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(encoder(longer)), vectors, atol=1e-6)


def test_sentence_features_load_fit_cache_and_save(tmp_path: Path, write_hf_checkpoint) -> None:
    source = sentence_pair_model()
    write_hf_checkpoint(source.get_layer("sentence_encoder"), tmp_path / "ckpt")
    model = sentence_pair_model(freeze_embeddings=True)
    recipe = {"preprocess": {"pretrained": str(tmp_path / "ckpt")},
              "model": {"sentence_features": True}}
    TextPairTask().initialize_model(model, None, recipe)  # ATTNKIT_HOME is tmp_path/.attnkit
    encoder = model.get_layer("sentence_encoder")
    for mine, theirs in zip(encoder.weights, source.get_layer("sentence_encoder").weights,
                            strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine),
                                      keras.ops.convert_to_numpy(theirs))
    assert not any("sentence_encoder" in v.path for v in model.trainable_weights)  # frozen
    assert encoder._disk_cache is not None
    assert encoder._disk_cache.parent == tmp_path / ".attnkit" / "cache" / "bert"
    inputs, labels = pair_problem(size=16)
    model.compile(optimizer="adam", loss=FocalLoss())
    before = model.get_weights()
    model.fit(inputs, labels, epochs=1, batch_size=8, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert all(entry.shape == (1, 8) for entry in encoder._cache.values())  # one vector a text
    expected = model.predict(inputs, verbose=0)

    # the disk cache serves a second model without running the encoder
    second = sentence_pair_model(freeze_embeddings=True)
    second.set_weights(model.get_weights())
    TextPairTask().initialize_model(second, None, recipe)
    assert second.get_layer("sentence_encoder")._disk_cache == encoder._disk_cache
    second.get_layer("sentence_encoder")._encode = None
    np.testing.assert_array_equal(second.predict(inputs, verbose=0), expected)

    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.get_config() == model.get_config()
    assert reloaded.get_config()["sentence_features"] is True
    np.testing.assert_allclose(reloaded.predict(inputs, verbose=0), expected, atol=1e-6)


def test_sentence_features_bad_settings() -> None:
    with pytest.raises(ValueError, match="sentence_features must be true or false, got 'yes'"):
        tiny_model(sentence_features="yes", cls_id=2, sep_id=3)
    with pytest.raises(ValueError, match="sentence_features needs a tokenizer with \\[CLS\\]"):
        tiny_model(sentence_features=True)
    with pytest.raises(ValueError, match="sentence_layers must be >= 1"):
        sentence_pair_model(sentence_layers=0)
    with pytest.raises(ConfigError, match="sentence_features needs preprocess.pretrained"):
        TextPairTask().initialize_model(sentence_pair_model(), None,
                                        {"preprocess": {"pretrained": ""}, "model": {}})


def test_disk_cache_files_without_rows_still_load(tmp_path: Path) -> None:
    """Token-output files written before the ``rows`` field (one row per token) load as before."""
    from attnkit.layers import BertEncoder

    encoder = BertEncoder(VOCAB, 8, 1, 2, 8, max_positions=16, cls_id=2, sep_id=3, cache_size=10)
    folder = tmp_path / encoder.fingerprint()
    folder.mkdir()
    vectors = np.arange(5 * 8, dtype="float32").reshape(5, 8)
    np.savez(folder / "old.npz", lengths=np.array([2, 3]), ids=np.array([5, 6, 7, 8, 9], "int32"),
             vectors=vectors)
    encoder.use_disk_cache(tmp_path)
    np.testing.assert_array_equal(encoder._cache[np.array([5, 6], "int32").tobytes()], vectors[:2])
    np.testing.assert_array_equal(encoder._cache[np.array([7, 8, 9], "int32").tobytes()],
                                  vectors[2:])


def test_static_embeddings_beside_bert_come_from_the_checkpoint(
    tmp_path: Path, write_hf_checkpoint
) -> None:
    from attnkit.data.pretrained import load_word_embeddings

    write_hf_checkpoint(bert_pair_model().get_layer("bert"), tmp_path / "ckpt")
    model = bert_pair_model(freeze_embeddings=True, static_embeddings=True)
    recipe = {"preprocess": {"pretrained": str(tmp_path / "ckpt")},
              "model": {"bert_layers": 1, "static_embeddings": True}}
    TextPairTask().initialize_model(model, None, recipe)
    static = model.get_layer("static_embedding")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(static.embeddings),
                                  load_word_embeddings(tmp_path / "ckpt"))
    assert static not in [layer for layer in model.layers if layer.trainable_weights]
    inputs, labels = pair_problem(size=16)
    model.compile(optimizer="adam", loss=FocalLoss())
    model.fit(inputs, labels, epochs=1, verbose=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(static.embeddings),
                                  load_word_embeddings(tmp_path / "ckpt"))  # still frozen
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.get_config()["static_embeddings"] is True
    np.testing.assert_allclose(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0),
                               atol=1e-6)
    with pytest.raises(ValueError, match="static_embeddings .* needs bert_layers > 0"):
        tiny_model(static_embeddings=True)
