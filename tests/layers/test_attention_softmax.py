"""AttentionSoftmax: masked weights, the logits hook, and its config round trip."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from attnkit.layers import AttentionSoftmax


def test_masked_positions_get_zero_weight_and_rows_sum_to_one() -> None:
    scores = ops.convert_to_tensor(np.random.default_rng(0).normal(size=(3, 5)).astype("float32"))
    mask = ops.convert_to_tensor(np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1] * 5]) > 0)
    weights = ops.convert_to_numpy(AttentionSoftmax()(scores, mask=mask))
    assert weights.shape == (3, 5)
    assert np.all(weights[~ops.convert_to_numpy(mask)] == 0.0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)


def test_the_hook_sees_the_scores_and_its_result_is_used() -> None:
    layer = AttentionSoftmax()
    seen = []

    def hook(logits, mask):
        seen.append(ops.convert_to_numpy(logits))
        return logits + ops.convert_to_tensor(np.array([[0.0, 100.0]], "float32"))

    layer.logits_hook = hook
    weights = ops.convert_to_numpy(layer(ops.zeros((1, 2)), mask=ops.ones((1, 2)) > 0))
    assert seen and seen[0].tolist() == [[0.0, 0.0]]
    assert weights[0, 1] > 0.99


def test_config_round_trip() -> None:
    layer = AttentionSoftmax(name="aspect_attention")
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(restored, AttentionSoftmax) and restored.name == "aspect_attention"
