"""The text-pair lexical overlap features: their values, the preprocessor's standardisation
and the pair model's ``pair_features`` input."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from attnkit.errors import ConfigError
from attnkit.tasks.text_pairs import AttentionPairClassifier, TextPairPreprocessor
from attnkit.tasks.text_pairs.lexical_features import (
    FEATURE_NAMES,
    pair_feature_matrix,
    pair_features,
)

TEXTS_A = ["the firm bought the bank", "rain fell", "the court backed the deal", "a b c"]
TEXTS_B = ["the bank was bought by the firm", "sun shone", "judges backed the deal", "a b d"]


def named(text_a: str, text_b: str) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, pair_features(text_a, text_b), strict=True))


def test_overlap_features_by_hand() -> None:
    features = named("The cat sat", "the cat ran")
    assert len(features) == 30
    for part in ("precision", "recall", "f1"):
        assert features[f"word1_{part}"] == pytest.approx(2 / 3)  # the, cat
        assert features[f"word2_{part}"] == pytest.approx(1 / 2)  # (the, cat)
        assert features[f"word3_{part}"] == features[f"word4_{part}"] == 0.0
        # 10 character bigrams each; "at" twice in a, once in b: 7 shared
        assert features[f"char2_{part}"] == pytest.approx(0.7)
    assert features["word_jaccard"] == pytest.approx(0.5)
    assert features["word_length_difference"] == features["char_length_difference"] == 0
    assert features["word_length_ratio"] == features["char_length_ratio"] == 1.0


def test_precision_is_measured_on_the_suspicious_text() -> None:
    features = named("a b c d", "a b")
    assert features["word1_precision"] == 1.0 and features["word1_recall"] == 0.5
    assert features["word_length_difference"] == 2 and features["word_length_ratio"] == 0.5
    empty = named("", "a")  # no division by zero
    assert empty["word1_f1"] == 0.0 and empty["char_length_ratio"] == 0.0


def test_the_preprocessor_standardises_with_training_statistics_and_round_trips() -> None:
    labels = ["1", "0", "1", "1"]
    pre = TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, labels, min_frequency=1,
                                   lexical_features=True)  # fmt: skip
    assert pre.lexical_size == len(FEATURE_NAMES)
    encoded = pre.encode_lexical(TEXTS_A, TEXTS_B)
    assert encoded.dtype == np.float32 and encoded.shape == (4, 30)
    np.testing.assert_allclose(encoded.mean(axis=0), 0.0, atol=1e-5)
    varying = pair_feature_matrix(TEXTS_A, TEXTS_B).std(axis=0) > 0
    np.testing.assert_allclose(encoded.std(axis=0)[varying], 1.0, rtol=1e-4)
    assert not varying.all()  # word4 overlap is 0 on every training pair: it stays 0
    np.testing.assert_array_equal(encoded[:, ~varying], 0.0)

    clone = TextPairPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(clone.encode_lexical(["new text"], ["a new text"]),
                                  pre.encode_lexical(["new text"], ["a new text"]))  # fmt: skip


def test_without_the_switch_there_are_no_lexical_features() -> None:
    pre = TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, ["1", "0", "1", "1"], min_frequency=1)
    assert pre.lexical_size == 0
    with pytest.raises(ConfigError, match="lexical_features"):
        pre.encode_lexical(TEXTS_A, TEXTS_B)
    saved = pre.to_dict()
    for key in ("lexical_mean", "lexical_scale"):  # saved before the features existed
        saved.pop(key)
    assert TextPairPreprocessor.from_dict(saved).lexical_size == 0


def test_saved_statistics_of_another_width_are_refused() -> None:
    pre = TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, ["1", "0", "1", "1"], min_frequency=1,
                                   lexical_features=True)  # fmt: skip
    saved = {**pre.to_dict(), "lexical_mean": [0.0] * 3, "lexical_scale": [1.0] * 3}
    with pytest.raises(ConfigError, match="3 / 3 values.*30 lexical features"):
        TextPairPreprocessor.from_dict(saved)


def lexical_problem(size: int = 64) -> tuple[dict, np.ndarray]:
    """The tokens carry no signal; the label is the sign of the first lexical feature."""
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 20, size=(size, 5)).astype("int32")
    lexical = rng.normal(size=(size, 3)).astype("float32")
    labels = (lexical[:, 0] > 0).astype("int32")
    return {"token_ids_a": ids, "token_ids_b": ids[::-1].copy(), "pair_features": lexical}, labels


def test_the_model_learns_from_its_pair_features_and_reloads(tmp_path: Path) -> None:
    keras.utils.set_random_seed(1)
    model = AttentionPairClassifier(vocabulary_size=20, num_classes=2, embedding_dim=8,
                                    units=4, attention_units=4, hidden_units=8, dropout=0.0,
                                    lexical_features=3)  # fmt: skip
    assert "pair_features" in [tensor.name for tensor in model.inputs]
    inputs, labels = lexical_problem()
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    before = model.evaluate(inputs, labels, verbose=0)[0]
    model.fit(inputs, labels, epochs=30, batch_size=16, verbose=0)
    loss, accuracy = model.evaluate(inputs, labels, verbose=0)
    assert loss < before and accuracy > 0.9
    path = tmp_path / "lexical.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_config()["lexical_features"] == 3
    np.testing.assert_array_equal(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))


@pytest.mark.parametrize("width", [-1, 2.5, True])
def test_bad_lexical_widths(width) -> None:
    with pytest.raises(ValueError, match="lexical_features"):
        AttentionPairClassifier(vocabulary_size=20, num_classes=2, lexical_features=width)
