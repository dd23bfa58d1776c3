"""Tests for the text-classification task family: model, preprocessor, metrics, task glue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from tokenizers import Tokenizer, models

from attnkit.data.splits import DataSplit
from attnkit.data.tokenizers import train_word_tokenizer
from attnkit.errors import AttnkitError, DataError
from attnkit.layers import (
    AdditiveAttention,
    GlobalContextAttention,
    LowRankMultiHeadAttention,
    MultiHeadSelfAttention,
)
from attnkit.tasks.text_classification import (
    TextClassificationPreprocessor,
    TextClassificationTask,
    TextClassifier,
)
from attnkit.tasks.text_classification.metrics import classification_metrics
from attnkit.tasks.text_classification.model import ENCODERS, HEADS

VOCAB = 20
SIGNAL_TOKEN = 5
COMBINATIONS = [(head, encoder) for head in HEADS for encoder in ENCODERS]
HEAD_LAYERS = {
    "additive": AdditiveAttention,
    "global-context": GlobalContextAttention,
    "lama": LowRankMultiHeadAttention,
    "mhsa": MultiHeadSelfAttention,
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(7)


def tiny_model(head: str, encoder: str, num_classes: int = 2, **overrides) -> TextClassifier:
    arguments = dict(
        vocabulary_size=VOCAB,
        num_classes=num_classes,
        embedding_dim=8,
        encoder=encoder,
        units=4,
        head=head,
        attention_units=6,
        num_heads=2,
        dropout=0.0,
    )
    arguments.update(overrides)
    return TextClassifier(**arguments)


def token_problem(size: int = 64, width: int = 9, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded token ids; the label says whether token 5 occurs."""
    rng = np.random.default_rng(seed)
    vocabulary = [t for t in range(2, VOCAB) if t != SIGNAL_TOKEN]
    token_ids = np.zeros((size, width), dtype="int32")
    labels = (np.arange(size) % 2).astype("int32")
    for row in range(size):
        length = int(rng.integers(2, width + 1))
        token_ids[row, :length] = rng.choice(vocabulary, size=length)
        if labels[row]:
            token_ids[row, rng.integers(length)] = SIGNAL_TOKEN
    return token_ids, labels


# --- TextClassifier -------------------------------------------------------------------------


@pytest.mark.parametrize(("head", "encoder"), COMBINATIONS)
def test_predict_gives_probabilities(head: str, encoder: str) -> None:
    model = tiny_model(head, encoder, num_classes=3)
    token_ids, _ = token_problem(size=10)
    probabilities = model.predict({"token_ids": token_ids}, verbose=0)
    assert probabilities.shape == (10, 3)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert isinstance(model.attention_layer, HEAD_LAYERS[head])


@pytest.mark.parametrize(("head", "encoder"), COMBINATIONS)
def test_training_lowers_the_loss(head: str, encoder: str) -> None:
    model = tiny_model(head, encoder)
    token_ids, labels = token_problem()
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    inputs = {"token_ids": token_ids}
    before = model.evaluate(inputs, labels, verbose=0)
    model.fit(inputs, labels, batch_size=32, epochs=4, verbose=0, shuffle=False)
    after = model.evaluate(inputs, labels, verbose=0)
    assert np.isfinite(after)
    assert after < 0.97 * before


@pytest.mark.parametrize(("head", "encoder"), COMBINATIONS)
def test_token_attention_is_a_distribution_over_real_tokens(head: str, encoder: str) -> None:
    model = tiny_model(head, encoder)
    token_ids, _ = token_problem(size=12)
    weights = model.token_attention({"token_ids": token_ids})
    assert weights.shape == token_ids.shape
    real = token_ids != 0
    assert np.all(weights[~real] == 0.0)
    assert np.all(weights >= 0.0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    # Not trivially uniform: the weights depend on the tokens.
    assert np.abs(weights[real] - (1.0 / real.sum(axis=1, keepdims=True) * real)[real]).max() > 1e-5


def test_config_round_trip_and_hidden_layer() -> None:
    model = tiny_model(
        "lama", "bigru", num_classes=4, hidden_units=5, context="mean", token_mlp=False, penalty=0.1
    )
    config = model.get_config()
    assert {
        k: config[k]
        for k in (
            "head",
            "encoder",
            "num_classes",
            "hidden_units",
            "context",
            "token_mlp",
            "penalty",
        )
    } == {
        "head": "lama",
        "encoder": "bigru",
        "num_classes": 4,
        "hidden_units": 5,
        "context": "mean",
        "token_mlp": False,
        "penalty": 0.1,
    }
    clone = TextClassifier.from_config(config)
    assert clone.get_config() == config
    assert clone.get_layer("hidden").units == 5
    assert clone.attention_layer.context == "mean"
    assert clone.count_params() == model.count_params()


FRESH_PROCESS = """
import json, sys
import numpy as np
import attnkit, keras
token_ids = np.load(sys.argv[1])
answers = {}
for path in sys.argv[2:]:
    model = keras.saving.load_model(path)
    answers[path] = model.predict({"token_ids": token_ids}, verbose=0).tolist()
print(json.dumps(answers))
"""


@pytest.mark.parametrize(("head", "encoder"), COMBINATIONS)
def test_saved_model_reloads_in_process_with_identical_predictions(
    head: str, encoder: str, tmp_path: Path
) -> None:
    token_ids, labels = token_problem(size=16)
    model = tiny_model(head, encoder, num_classes=3)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, TextClassifier)
    assert reloaded.get_config() | {"name": None} == model.get_config() | {"name": None}
    np.testing.assert_array_equal(
        reloaded.predict({"token_ids": token_ids}, verbose=0),
        model.predict({"token_ids": token_ids}, verbose=0),
    )


@pytest.mark.slow
def test_saved_models_predict_identically_in_a_fresh_process(tmp_path: Path) -> None:
    token_ids, labels = token_problem(size=16)
    expected = {}
    for head, encoder in COMBINATIONS:
        model = tiny_model(head, encoder, num_classes=3)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.train_on_batch({"token_ids": token_ids}, labels)  # weights differ from init
        path = tmp_path / f"{head}-{encoder}.keras"
        model.save(path)
        expected[str(path)] = model.predict({"token_ids": token_ids}, verbose=0)
    np.save(tmp_path / "ids.npy", token_ids)

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "ids.npy"), *expected],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    answers = json.loads(completed.stdout.strip().splitlines()[-1])
    assert sorted(answers) == sorted(expected)
    for path, probabilities in expected.items():
        np.testing.assert_allclose(
            np.array(answers[path], dtype="float32"), probabilities, rtol=0, atol=1e-6, err_msg=path
        )


@pytest.mark.parametrize(
    "overrides",
    [{"head": "attention"}, {"encoder": "lstm"}, {"num_classes": 1}, {"vocabulary_size": 2}],
    ids=["head", "encoder", "num_classes", "vocabulary_size"],
)
def test_bad_model_arguments_raise_value_error(overrides: dict) -> None:
    arguments = {"head": "lama", "encoder": "bigru", **overrides}
    with pytest.raises(ValueError, match=next(iter(overrides))):
        tiny_model(**arguments)


# --- TextClassificationPreprocessor ---------------------------------------------------------

TEXTS = ["a good film", "a bad film", "good acting , bad plot", "the plot is good"]
LABELS = ["pos", "neg", "neg", "pos"]


def fitted(**options) -> TextClassificationPreprocessor:
    return TextClassificationPreprocessor.fit(TEXTS, LABELS, min_frequency=1, **options)


def test_fit_and_encode() -> None:
    pre = fitted(max_length=3)
    assert pre.labels == ["neg", "pos"]
    assert pre.num_classes == 2
    assert pre.tokenizer.token_to_id("[PAD]") == 0
    assert pre.tokenizer.token_to_id("[UNK]") == 1
    vocabulary = {"a", "good", "film", "bad", "acting", ",", "plot", "the", "is"}
    assert pre.vocabulary_size == len(vocabulary) + 2
    good, film = pre.tokenizer.token_to_id("good"), pre.tokenizer.token_to_id("film")
    encoded = pre.encode_texts(["GOOD Film", "good unseen film words here", ""])
    assert encoded[0] == [good, film]  # lower-cased
    assert encoded[1] == [good, 1, film]  # unknown word -> [UNK]; truncated to max_length 3
    assert encoded[2] == [1]  # an empty text still has one token
    assert pre.tokens("GOOD Film") == ["GOOD", "Film"]  # surface forms, original case
    assert pre.tokens("one two three four") == ["one", "two", "three"]
    assert pre.tokens("") == [""]


def test_fit_respects_min_frequency_and_vocab_size() -> None:
    pre = TextClassificationPreprocessor.fit(TEXTS, LABELS, min_frequency=2)
    assert pre.tokenizer.token_to_id("good") is not None  # 3 occurrences
    assert pre.tokenizer.token_to_id("acting") is None  # 1 occurrence
    small = TextClassificationPreprocessor.fit(TEXTS, LABELS, min_frequency=1, vocab_size=4)
    assert small.vocabulary_size == 4


def test_label_order_is_numeric_for_integer_labels() -> None:
    pre = TextClassificationPreprocessor.fit(["x"] * 3, ["10", "2", "1"], min_frequency=1)
    assert pre.labels == ["1", "2", "10"]


def test_fit_rejects_a_single_label_and_bad_max_length() -> None:
    with pytest.raises(DataError, match="at least 2 distinct labels"):
        TextClassificationPreprocessor.fit(TEXTS, ["pos"] * 4, min_frequency=1)
    with pytest.raises(ValueError, match="max_length"):
        fitted(max_length=0)


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text(
        "text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8"
    )
    return path


def test_unknown_label_names_file_line_and_field(tmp_path: Path) -> None:
    task = TextClassificationTask()
    path = write_tsv(tmp_path / "dev.tsv", [("good", "pos"), ("bad", "neg"), ("meh", "neutral")])
    split = task.read_file(path, task.data_defaults, labelled=True)
    with pytest.raises(DataError) as caught:
        fitted().encode_labels(split)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), 4, "label")
    assert str(error).startswith(f"{path}, line 4, field 'label': ")
    assert "'neutral'" in str(error) and "['neg', 'pos']" in str(error)


def test_encode_labels_maps_names_and_rejects_missing_labels(tmp_path: Path) -> None:
    pre = fitted()
    frame = pl.DataFrame(
        {"text": ["a", "b", "c"], "label": ["pos", "neg", "pos"], "_line": [2, 3, 5]}
    )
    np.testing.assert_array_equal(
        pre.encode_labels(DataSplit("train", tmp_path / "t.tsv", frame)), [1, 0, 1]
    )
    missing = frame.with_columns(pl.Series("label", ["pos", None, "neg"], dtype=pl.Utf8))
    with pytest.raises(DataError, match="no label") as caught:
        pre.encode_labels(DataSplit("train", tmp_path / "t.tsv", missing))
    assert caught.value.line == 3


def test_to_dict_from_dict_round_trip() -> None:
    pre = fitted(max_length=5)
    data = json.loads(json.dumps(pre.to_dict()))  # JSON-serialisable, as saved in bundles
    clone = TextClassificationPreprocessor.from_dict(data)
    texts = ["A good FILM , the plot", "unseen words everywhere", "", "good " * 10]
    assert clone.encode_texts(texts) == pre.encode_texts(texts)
    assert (clone.labels, clone.max_length, clone.vocabulary_size) == (
        pre.labels,
        pre.max_length,
        pre.vocabulary_size,
    )
    assert clone.tokens(texts[0]) == pre.tokens(texts[0])


def test_vocab_file_plain_text(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("good\nbad\n\nfilm\n", encoding="utf-8")
    pre = fitted(vocab_file=str(vocab))
    assert pre.vocabulary_size == 5  # [PAD], [UNK] prepended
    assert pre.encode_texts(["Good FILM acting"]) == [[2, 4, 1]]
    cased = fitted(vocab_file=str(vocab), lowercase=False)
    assert cased.encode_texts(["Good good"]) == [[1, 2]]

    with_specials = tmp_path / "specials.txt"
    with_specials.write_text("[PAD]\n[UNK]\nfilm\n", encoding="utf-8")
    assert fitted(vocab_file=str(with_specials)).encode_texts(["film x"]) == [[2, 1]]


def test_vocab_file_tokenizer_json(tmp_path: Path) -> None:
    tokenizer = train_word_tokenizer(["the cat sat", "the dog ran far"], min_frequency=1)
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    pre = fitted(vocab_file=str(path))  # the training texts do not change this vocabulary
    assert pre.vocabulary_size == tokenizer.get_vocab_size()
    assert pre.encode_texts(["The dog sat on a film"]) == [
        tokenizer.encode("The dog sat on a film").ids
    ]
    assert pre.tokenizer.token_to_id("film") is None


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("vocab.txt", "good\n[PAD]\n", "must be the first token"),
        ("empty.txt", "\n\n", "empty"),
        ("bad.json", "{not json", "tokenizer.json"),
        ("missing.txt", None, "not found"),
    ],
)
def test_bad_vocab_files(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        fitted(vocab_file=str(path))
    assert caught.value.path == str(path)


def test_tokenizer_json_must_pad_with_id_zero(tmp_path: Path) -> None:
    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "[PAD]": 1, "film": 2}, unk_token="[UNK]"))
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    with pytest.raises(DataError, match=r"\[PAD\] to id 0"):
        fitted(vocab_file=str(path))


# --- metrics --------------------------------------------------------------------------------


def test_binary_metrics_by_hand_and_against_sklearn() -> None:
    targets = np.array([0, 0, 1, 1])
    positive = np.array([0.1, 0.6, 0.4, 0.9])
    probabilities = np.stack([1 - positive, positive], axis=1)
    metrics = classification_metrics(targets, probabilities)
    assert set(metrics) == {"accuracy", "macro_f1", "loss", "auc"}
    # Predicted [0, 1, 0, 1]: one right per class; positives outrank negatives in 3 of 4 pairs.
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["macro_f1"] == pytest.approx(0.5)
    assert metrics["auc"] == pytest.approx(0.75)
    assert metrics["loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))
    assert metrics["loss"] == pytest.approx(log_loss(targets, probabilities))
    assert metrics["auc"] == pytest.approx(roc_auc_score(targets, positive))


def test_multiclass_metrics_against_sklearn() -> None:
    rng = np.random.default_rng(0)
    targets = np.array([0, 1, 2, 2, 1, 0, 2, 1, 0, 2])
    probabilities = rng.dirichlet(np.ones(3), size=len(targets))
    probabilities[np.arange(6), targets[:6]] += 1.0  # mostly right
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    metrics = classification_metrics(targets, probabilities)
    predicted = probabilities.argmax(axis=1)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(targets, predicted))
    assert metrics["macro_f1"] == pytest.approx(f1_score(targets, predicted, average="macro"))
    assert metrics["auc"] == pytest.approx(roc_auc_score(targets, probabilities, multi_class="ovr"))
    assert metrics["loss"] == pytest.approx(log_loss(targets, probabilities))


def test_auc_is_omitted_when_a_class_is_absent() -> None:
    three = np.full((4, 3), 1 / 3)
    metrics = classification_metrics(np.array([0, 1, 0, 1]), three)
    assert "auc" not in metrics
    # Macro-F1 still averages over all 3 classes (the absent one scores 0).
    assert metrics["macro_f1"] == pytest.approx(
        f1_score([0, 1, 0, 1], [0, 0, 0, 0], average="macro", labels=[0, 1, 2], zero_division=0)
    )
    binary = classification_metrics(np.array([1, 1]), np.array([[0.3, 0.7], [0.6, 0.4]]))
    assert "auc" not in binary and binary["accuracy"] == 0.5


# --- task glue ------------------------------------------------------------------------------


def test_parse_raw_accepts_strings_dicts_and_frames() -> None:
    import pandas as pd

    task = TextClassificationTask()
    assert task.parse_raw("one").to_dicts() == [{"text": "one"}]
    assert task.parse_raw([{"text": "a"}, "b"])["text"].to_list() == ["a", "b"]
    assert task.parse_raw(pd.DataFrame({"text": ["x"], "other": [1]}))["text"].to_list() == ["x"]
    with pytest.raises(AttnkitError, match="no 'text' column"):
        task.parse_raw(pd.DataFrame({"review": ["x"]}))
    with pytest.raises(AttnkitError, match="record 1: field 'text'"):
        task.parse_raw(["fine", {"body": "no text"}])


def test_format_outputs_and_explain() -> None:
    task = TextClassificationTask()
    pre = fitted()
    model = TextClassifier(
        vocabulary_size=pre.vocabulary_size,
        num_classes=2,
        embedding_dim=4,
        units=2,
        head="additive",
        attention_units=3,
        dropout=0.0,
    )
    frame = task.parse_raw(["a good film", "Bad PLOT , unseen"])
    outputs = np.array([[0.25, 0.75], [0.9, 0.1]], dtype="float32")
    answers = task.format_outputs(pre, frame, outputs, explanations=[["x"], ["y"]])
    assert answers[0] == {
        "label": "pos",
        "probabilities": {"neg": 0.25, "pos": 0.75},
        "attention": ["x"],
    }
    assert answers[1]["label"] == "neg"
    explanations = task.explain(model, pre, frame, batch_size=1)
    assert [[token for token, _ in pairs] for pairs in explanations] == [
        ["a", "good", "film"],
        ["Bad", "PLOT", ",", "unseen"],
    ]
    for pairs in explanations:
        assert sum(weight for _, weight in pairs) == pytest.approx(1.0, abs=1e-5)
