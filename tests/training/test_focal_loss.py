"""Focal loss: cross-entropy at gamma = 0, easy examples down-weighted otherwise, alpha, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from attnkit.training.losses import FocalLoss

TARGETS = np.array([0, 1, 1, 0, 1])
PROBABILITIES = np.array(
    [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.45, 0.55], [0.01, 0.99]], dtype="float32"
)


def per_example(loss: FocalLoss, targets=TARGETS, probabilities=PROBABILITIES) -> np.ndarray:
    return keras.ops.convert_to_numpy(loss.call(targets, probabilities))


def test_gamma_zero_without_alpha_is_cross_entropy() -> None:
    expected = keras.losses.SparseCategoricalCrossentropy()(TARGETS, PROBABILITIES)
    focal = FocalLoss(alpha=-1.0, gamma=0.0)(TARGETS, PROBABILITIES)
    assert float(focal) == pytest.approx(float(expected), rel=1e-6)
    by_hand = -np.log(PROBABILITIES[np.arange(5), TARGETS])
    np.testing.assert_allclose(per_example(FocalLoss(gamma=0.0)), by_hand, rtol=1e-6)


def test_from_logits_matches_probabilities() -> None:
    logits = np.log(PROBABILITIES)
    np.testing.assert_allclose(
        per_example(FocalLoss(gamma=2.0, from_logits=True), probabilities=logits),
        per_example(FocalLoss(gamma=2.0)),
        rtol=1e-4,
    )


def test_focusing_down_weights_easy_examples_most() -> None:
    cross_entropy = per_example(FocalLoss(gamma=0.0))
    focal = per_example(FocalLoss(gamma=2.0))
    p_true = PROBABILITIES[np.arange(5), TARGETS]
    np.testing.assert_allclose(focal, (1 - p_true) ** 2 * cross_entropy, rtol=1e-5)
    ratio = focal / cross_entropy
    # The ratio falls as the example gets easier: easiest (p_t = 0.99) is scaled by 1e-4.
    assert np.all(np.diff(ratio[np.argsort(p_true)]) < 0)
    assert ratio[4] == pytest.approx(1e-4, rel=1e-3)
    assert ratio[2] == pytest.approx(0.49, rel=1e-4)  # hard example (p_t = 0.3) keeps half


def test_alpha_weights_the_positive_class() -> None:
    plain = per_example(FocalLoss(gamma=2.0))
    weighted = per_example(FocalLoss(alpha=0.25, gamma=2.0))
    expected = np.where(TARGETS == 1, 0.25, 0.75) * plain
    np.testing.assert_allclose(weighted, expected, rtol=1e-6)
    other = per_example(FocalLoss(alpha=0.25, gamma=2.0, positive_class=0))
    np.testing.assert_allclose(other, np.where(TARGETS == 0, 0.25, 0.75) * plain, rtol=1e-6)
    last = per_example(FocalLoss(alpha=0.25, gamma=2.0, positive_class=-1))
    np.testing.assert_allclose(last, weighted, rtol=1e-6)  # -1: the last class


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"alpha": 1.5}, "alpha"), ({"gamma": -1.0}, "gamma")],
)
def test_bad_arguments(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FocalLoss(**arguments)


def test_config_round_trip_and_compiled_model_saves(tmp_path) -> None:
    loss = FocalLoss(alpha=0.4, gamma=1.5, positive_class=1)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, FocalLoss)
    assert (clone.alpha, clone.gamma, clone.positive_class) == (0.4, 1.5, 1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss=loss)
    x, y = np.ones((4, 3), "float32"), np.array([0, 1, 1, 0])
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.loss, FocalLoss) and reloaded.loss.gamma == 1.5
