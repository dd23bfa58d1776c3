"""``training.encoder_learning_rate``: the pretrained encoder's own learning rate."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from attnkit.errors import ConfigError
from attnkit.training.encoder_learning_rate import (
    EncoderRateAdam,
    encoder_paths,
    encoder_rate_optimizer,
)

BASE, ENCODER = 1e-2, 1e-4


def tiny_model(trainable_embedding: bool = True) -> keras.Model:
    ids = keras.Input((4,), dtype="int32")
    x = keras.layers.Embedding(10, 3, trainable=trainable_embedding, name="embedding")(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(ids, keras.layers.Dense(1, name="head")(x))


def one_step_changes(optimizer_name: str, encoder_rate: bool = True) -> dict[str, float]:
    """The largest change of each variable after one training step, by variable path; without
    ``encoder_rate``, of the plain optimizer at the base rate."""
    keras.utils.set_random_seed(0)
    model = tiny_model()
    plain = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
             "adamw": keras.optimizers.AdamW}[optimizer_name](learning_rate=BASE)  # fmt: skip
    optimizer = (encoder_rate_optimizer(optimizer_name, model, BASE, ENCODER) if encoder_rate
                 else plain)  # fmt: skip
    model.compile(optimizer=optimizer, loss="mse")
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}
    ids = np.random.default_rng(0).integers(0, 10, (16, 4))
    model.train_on_batch(ids, np.ones((16, 1)))
    return {v.path: float(np.abs(keras.ops.convert_to_numpy(v) - before[v.path]).max())
            for v in model.trainable_variables}  # fmt: skip


def test_only_embedding_and_bert_variables_are_the_encoder() -> None:
    assert encoder_paths(tiny_model()) == ["embedding/embeddings"]
    assert encoder_paths(tiny_model(trainable_embedding=False)) == []


def test_adam_steps_the_encoder_at_its_own_rate() -> None:
    # Adam's first step moves every weight with a gradient by about its learning rate.
    changes = one_step_changes("adam")
    assert 0.5 * ENCODER < changes["embedding/embeddings"] <= 1.01 * ENCODER
    assert changes["head/kernel"] == pytest.approx(BASE, rel=0.01)


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_the_other_optimizers_scale_the_encoder_step(name: str) -> None:
    scaled, plain = one_step_changes(name), one_step_changes(name, encoder_rate=False)
    ratio = scaled["embedding/embeddings"] / plain["embedding/embeddings"]
    assert ratio == pytest.approx(ENCODER / BASE, rel=0.05)
    assert scaled["head/kernel"] == pytest.approx(plain["head/kernel"], rel=1e-4)


def test_the_optimizer_config_round_trips() -> None:
    optimizer = encoder_rate_optimizer("adam", tiny_model(), BASE, ENCODER, global_clipnorm=5.0)
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(clone, EncoderRateAdam)
    assert clone.encoder_paths == ["embedding/embeddings"]
    assert clone.encoder_learning_rate == ENCODER and clone.global_clipnorm == 5.0
    assert float(clone.learning_rate) == pytest.approx(BASE)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="model.freeze_embeddings = false"):
        encoder_rate_optimizer("adam", tiny_model(trainable_embedding=False), BASE, ENCODER)
    with pytest.raises(ConfigError, match="encoder_learning_rate must be > 0"):
        encoder_rate_optimizer("adam", tiny_model(), BASE, -1.0)
    with pytest.raises(ConfigError, match="training.optimizer must be one of"):
        encoder_rate_optimizer("rmsprop", tiny_model(), BASE, ENCODER)
    with pytest.raises(ValueError, match="encoder_paths"):
        EncoderRateAdam(BASE, encoder_paths=[], encoder_learning_rate=ENCODER)
