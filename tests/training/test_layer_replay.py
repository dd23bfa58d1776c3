"""LayerReplay: a perturbed pass reuses the layers upstream of the attention, gives the same
numbers as a full pass, and the strategies' losses and gradients do not change with it."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from attnkit.tasks.absa import AspectSentimentTask, MemNet, TNetATT
from attnkit.tasks.absa.sample_data import sample_split
from attnkit.tasks.text_classification.model import TextClassifier
from attnkit.tasks.text_pairs import AttentionPairClassifier
from attnkit.training import get_strategy
from attnkit.training.attention_probe import fixed, hooked_attention_layers, probed_call
from attnkit.training.layer_replay import LayerReplay
from attnkit.training.perturbation_trainer import PerturbationTrainer

LENGTHS = (6, 3, 5, 2)
ABSA_VOCABULARY = 60


def classifier(head: str = "additive", dropout: float = 0.0) -> TextClassifier:
    keras.utils.set_random_seed(3)
    return TextClassifier(vocabulary_size=30, num_classes=2, embedding_dim=8, units=6,
                          attention_units=6, head=head, num_heads=2, dropout=dropout)


def token_batch(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    tokens = np.zeros((len(LENGTHS), max(LENGTHS)), dtype="int32")
    for row, length in enumerate(LENGTHS):
        tokens[row, :length] = rng.integers(2, 30, size=length)
    return {"token_ids": ops.convert_to_tensor(tokens)}


def pair_batch() -> dict:
    rng = np.random.default_rng(1)
    ids_a = np.zeros((4, 6), "int32")
    ids_b = np.zeros((4, 5), "int32")
    for row, length in enumerate((6, 4, 3, 5)):
        ids_a[row, :length] = rng.integers(2, 30, size=length)
        ids_b[row, : min(length, 5)] = rng.integers(2, 30, size=min(length, 5))
    return {"token_ids_a": ids_a, "token_ids_b": ids_b}


def absa_batch() -> dict:
    """Four generated aspect-sentiment examples as model inputs (vocabulary under 60)."""
    task = AspectSentimentTask()
    split = sample_split("train", 4, seed=0)
    preprocessor = task.fit_preprocessor(split, task.preprocess_defaults)
    assert preprocessor.vocabulary_size <= ABSA_VOCABULARY
    inputs, _ = task.batches(preprocessor, split, 4, shuffle=False, seed=0)[0]
    return inputs


def replay_for(model) -> LayerReplay:
    return LayerReplay(model, never_replay=hooked_attention_layers(model))


def test_a_replayed_pass_equals_a_full_pass_and_skips_the_encoder() -> None:
    model, x = classifier(), token_batch()
    replay = replay_for(model)
    with replay.recording():
        recorded = model(x, training=True)
    with replay.replaying():
        replayed = model(x, training=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(replayed), ops.convert_to_numpy(recorded))
    assert {"embedding", "encoder"} <= set(replay.replayed_layers)
    assert "attention_head" not in replay.replayed_layers


def test_changed_inputs_are_recomputed() -> None:
    model = classifier()
    replay = replay_for(model)
    with replay.recording():
        model(token_batch(0), training=True)
    with replay.replaying():
        replayed = model(token_batch(1), training=True)
    assert replay.replayed_layers == []
    fresh = model(token_batch(1), training=True)
    np.testing.assert_allclose(ops.convert_to_numpy(replayed), ops.convert_to_numpy(fresh),
                               rtol=1e-6)


def test_a_perturbation_reaches_the_output_of_a_replayed_pass() -> None:
    model, x = classifier(), token_batch()
    delta = ops.convert_to_tensor(np.random.default_rng(2).normal(size=(4, 6)).astype("float32"))
    replay = replay_for(model)
    with replay.recording():
        clean, _ = probed_call(model, x, training=True)
    with replay.replaying():
        perturbed, _ = probed_call(model, x, fixed([delta]), training=True)
    expected, _ = probed_call(model, x, fixed([delta]), training=True)
    assert not np.allclose(ops.convert_to_numpy(perturbed), ops.convert_to_numpy(clean))
    np.testing.assert_allclose(ops.convert_to_numpy(perturbed), ops.convert_to_numpy(expected),
                               rtol=1e-6)


def test_dropout_masks_upstream_of_the_attention_are_shared() -> None:
    model, x = classifier(dropout=0.5), token_batch()
    replay = replay_for(model)
    with replay.recording():
        _, recorded_sites = probed_call(model, x, training=True)
    with replay.replaying():
        _, replayed_sites = probed_call(model, x, training=True)
    _, rerun_sites = probed_call(model, x, training=True)  # new dropout masks
    recorded = ops.convert_to_numpy(recorded_sites[0].logits)
    np.testing.assert_array_equal(ops.convert_to_numpy(replayed_sites[0].logits), recorded)
    assert not np.allclose(ops.convert_to_numpy(rerun_sites[0].logits), recorded)
    assert {"embedding_dropout", "encoder_dropout"} <= set(replay.replayed_layers)


MODELS = {
    "additive": (lambda: classifier("additive"), token_batch),
    "lama": (lambda: classifier("lama"), token_batch),
    # two attention sites (one layer, called on each text) and the cross alignment between them
    "pair-cross": (lambda: AttentionPairClassifier(
        vocabulary_size=30, num_classes=2, embedding_dim=8, units=4, attention_units=4,
        hidden_units=6, dropout=0.0, interaction="cross", overlap_features=True), pair_batch),
    # the inline-scored ABSA attention (AttentionSoftmax): one layer called per hop
    "memnet-2-hops": (lambda: MemNet(vocabulary_size=ABSA_VOCABULARY, num_classes=3,
                                     embedding_dim=8, hops=2), absa_batch),
    "tnet": (lambda: TNetATT(vocabulary_size=ABSA_VOCABULARY, num_classes=3, embedding_dim=8,
                             units=4, freeze_embeddings=False, dropout=0.0), absa_batch),
}


def loss_terms_and_gradients(strategy_name: str, model_name: str, reuse: bool):
    build, batch = MODELS[model_name]
    keras.utils.set_random_seed(3)
    model, x = build(), batch()
    y = np.array([0, 1, 1, 0])
    strategy = get_strategy(strategy_name, {"epsilon": 2.0, "reuse_encoder": reuse})
    trainer = strategy.prepare(model, task=None)
    assert isinstance(trainer, PerturbationTrainer)
    trainer.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy())
    model(x)  # build
    trainer.zero_grad()
    terms, _ = strategy.loss_terms(trainer, x, y, None)
    terms["loss"].backward()
    gradients = [
        ops.convert_to_numpy(v.value.grad) if v.value.grad is not None else None
        for v in model.trainable_weights
    ]
    replay = strategy.replay_for(model)
    replayed = [] if replay is None else list(replay.replayed_layers)
    return {k: float(v.detach()) for k, v in terms.items()}, gradients, replayed


@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("strategy_name", ["at", "iat", "vat", "ivat"])
def test_reusing_the_encoder_changes_neither_the_loss_nor_the_gradients(
    strategy_name: str, model_name: str
) -> None:
    terms_full, gradients_full, _ = loss_terms_and_gradients(strategy_name, model_name, False)
    terms_reused, gradients_reused, replayed = loss_terms_and_gradients(
        strategy_name, model_name, True
    )
    assert replayed, "nothing upstream of the attention was reused"
    assert terms_reused == pytest.approx(terms_full, rel=1e-5, abs=1e-7)
    for full, reused in zip(gradients_full, gradients_reused, strict=True):
        assert (full is None) == (reused is None)
        if full is not None:
            np.testing.assert_allclose(reused, full, rtol=1e-4, atol=1e-6)
