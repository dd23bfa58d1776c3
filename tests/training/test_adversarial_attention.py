"""AT, iAT, VAT and iVAT on attention logits: perturbations, loss terms, training, refusal."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import torch
from keras import ops

from attnkit.data.batches import BucketedBatches
from attnkit.data.interleaved import UNLABELLED_KEY, InterleavedBatches
from attnkit.errors import ConfigError
from attnkit.tasks.text_classification.model import TextClassifier
from attnkit.training import get_strategy, strategy_defaults
from attnkit.training.attention_probe import fixed, probed_call, zero_probes
from attnkit.training.perturbations import (
    difference_directions,
    interpretable_direction,
    per_example_norm,
)

STRATEGIES = ("at", "iat", "vat", "ivat")
EPSILON = 2.5
LENGTHS = (6, 3, 5, 2)


def make_model(head: str = "additive", dropout: float = 0.0) -> TextClassifier:
    keras.utils.set_random_seed(3)
    return TextClassifier(vocabulary_size=30, num_classes=2, embedding_dim=8, units=6,
                          attention_units=6, head=head, num_heads=2, dropout=dropout)


def make_batch() -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(0)
    tokens = np.zeros((len(LENGTHS), max(LENGTHS)), dtype="int32")
    for row, length in enumerate(LENGTHS):
        tokens[row, :length] = rng.integers(2, 30, size=length)
    return {"token_ids": tokens}, np.array([0, 1, 1, 0])


def compiled_trainer(strategy: str, model: keras.Model | None = None, **params):
    model = model or make_model()
    trainer = get_strategy(strategy, {"epsilon": EPSILON, **params}).prepare(model, task=None)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01),
                    loss=keras.losses.SparseCategoricalCrossentropy(),
                    metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return trainer


def perturbations_of(trainer, x, y) -> list:
    strategy = trainer.strategy
    if strategy.name in ("at", "iat"):
        deltas, _, _ = strategy.perturbations(trainer, x, y)
    else:
        deltas, _ = strategy.perturbations(trainer, x)
    return [ops.convert_to_numpy(delta) for delta in deltas]


@pytest.mark.parametrize("head", ["additive", "lama"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_perturbation_has_norm_epsilon_per_example_and_zero_on_padding(strategy: str, head: str) -> None:
    trainer = compiled_trainer(strategy, make_model(head))
    x, y = make_batch()
    (delta,) = perturbations_of(trainer, x, y)
    padding = x["token_ids"] == 0
    if delta.ndim == 3:  # LAMA: (batch, heads, time)
        padding = np.broadcast_to(padding[:, None, :], delta.shape)
    assert np.all(delta[padding] == 0.0)
    norms = np.sqrt((delta.reshape(len(LENGTHS), -1) ** 2).sum(axis=1))
    np.testing.assert_allclose(norms, EPSILON, rtol=1e-4)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_total_loss_is_the_sum_of_its_parts(strategy: str) -> None:
    weight = 0.7
    key = "adversarial_weight" if strategy in ("at", "iat") else "virtual_weight"
    trainer = compiled_trainer(strategy, **{key: weight})
    x, y = make_batch()
    keras.utils.set_random_seed(5)
    terms, y_pred = trainer.strategy.loss_terms(trainer, x, ops.convert_to_tensor(y), None)
    parts = [name for name in terms if name != "loss"]
    first, second = (float(terms[name].detach()) for name in parts)
    assert float(terms["loss"].detach()) == pytest.approx(first + weight * second, rel=1e-6)
    # The first part is the plain task loss of the clean model (no dropout in this model).
    clean = keras.losses.SparseCategoricalCrossentropy()(y, trainer.inner(x))
    assert first == pytest.approx(float(clean), rel=1e-5)
    assert second > 0.0


def test_adversarial_loss_exceeds_the_clean_loss() -> None:
    """AT's r is the steepest ascent of the loss, so it must raise the loss."""
    trainer = compiled_trainer("at")
    x, y = make_batch()
    terms, _ = trainer.strategy.loss_terms(trainer, x, ops.convert_to_tensor(y), None)
    assert float(terms["adversarial_loss"].detach()) > float(terms["clean_loss"].detach())


def test_iat_perturbation_lies_in_the_span_of_the_differences_and_raises_the_loss() -> None:
    x, y = make_batch()
    model = make_model()
    _, sites = probed_call(model, x)
    logits, mask = sites[0].logits, sites[0].mask
    gradient = keras.random.normal(ops.shape(logits), seed=1) * mask
    delta = ops.convert_to_numpy(interpretable_direction(gradient, logits, mask, EPSILON))
    directions = ops.convert_to_numpy(difference_directions(logits, mask))
    for row in range(len(LENGTHS)):
        basis = directions[row].T  # (time, partners)
        coefficients, *_ = np.linalg.lstsq(basis, delta[row], rcond=None)
        np.testing.assert_allclose(basis @ coefficients, delta[row], atol=1e-5)
    assert float(np.sum(ops.convert_to_numpy(gradient) * delta)) > 0.0


def test_iat_repo_compat_is_the_negative_normalised_gradient() -> None:
    trainer = compiled_trainer("iat", repo_compat=True)
    x, y = make_batch()
    y_pred, sites = probed_call(trainer.inner, x, zero_probes, training=True)
    loss = trainer.task_loss(x, ops.convert_to_tensor(y), y_pred)
    (gradient,) = torch.autograd.grad(loss, [sites[0].perturbation])
    (delta,) = perturbations_of(trainer, x, y)
    expected = -EPSILON * ops.convert_to_numpy(gradient) / ops.convert_to_numpy(
        per_example_norm(gradient, sites[0].mask))
    np.testing.assert_allclose(delta, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_few_steps_lower_the_loss_and_the_model_reloads(strategy: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    sequences = [list(rng.integers(2, 30, size=rng.integers(3, 9))) for _ in range(96)]
    labels = [int(7 in s or 9 in s) for s in sequences]
    batches = BucketedBatches({"token_ids": sequences}, labels, batch_size=16, shuffle=True)
    trainer = compiled_trainer(strategy)
    history = trainer.fit(batches, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    parts = [name for name in history if name.endswith("_loss")]
    assert len(parts) == 2  # both parts are shown next to the total

    path = tmp_path / "model.keras"
    trainer.inner.save(path)
    reloaded = keras.saving.load_model(path)
    x, _ = make_batch()
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), trainer.inner.predict(x, verbose=0), atol=1e-6
    )


@pytest.mark.parametrize("strategy", ["vat", "ivat"])
def test_unlabelled_batches_join_the_virtual_adversarial_term(strategy: str) -> None:
    trainer = compiled_trainer(strategy)
    x, y = make_batch()
    unlabelled = {"token_ids": np.array([[4, 5, 6, 7, 8, 9, 10, 11], [3, 3, 0, 0, 0, 0, 0, 0]],
                                        dtype="int32")}
    keras.utils.set_random_seed(5)
    terms, y_pred = trainer.strategy.loss_terms(
        trainer, x, ops.convert_to_tensor(y), unlabelled
    )
    assert tuple(y_pred.shape) == (4, 2)  # supervised part: labelled rows only
    assert float(terms["virtual_adversarial_loss"].detach()) > 0.0
    data = InterleavedBatches(
        BucketedBatches(x, y, batch_size=2),
        BucketedBatches(unlabelled, None, batch_size=1),
    )
    inputs, labels = data[0]
    assert set(inputs) == {"token_ids", UNLABELLED_KEY} and len(labels) == 2
    history = trainer.fit(data, epochs=2, verbose=0).history
    assert np.isfinite(history["virtual_adversarial_loss"]).all()


def test_at_refuses_unlabelled_data() -> None:
    trainer = compiled_trainer("at")
    x, y = make_batch()
    with pytest.raises(ConfigError, match="does not use unlabelled data"):
        trainer.strategy.loss_terms(trainer, x, ops.convert_to_tensor(y), x)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_model_without_a_logits_hook_is_refused(strategy: str) -> None:
    model = make_model(head="mhsa")
    with pytest.raises(ConfigError, match="no attention layer with a logits hook"):
        get_strategy(strategy, {}).prepare(model, task=None)


def test_bad_strategy_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="epsilon must be positive"):
        get_strategy("at", {"epsilon": 0.0})
    with pytest.raises(TypeError):
        get_strategy("vat", {"epsilonn": 1.0})
    assert strategy_defaults("iat") == {
        "epsilon": 1.0, "adversarial_weight": 1.0, "repo_compat": False, "reuse_encoder": True
    }


def test_fixed_perturbations_must_cover_every_site() -> None:
    with pytest.raises(RuntimeError, match="attention 1 times but only 0"):
        probed_call(make_model(), make_batch()[0], fixed([]))


def test_at_trains_under_jit_compile() -> None:
    rng = np.random.default_rng(2)
    sequences = [list(rng.integers(2, 30, size=6)) for _ in range(64)]
    labels = [int(7 in s) for s in sequences]
    batches = BucketedBatches({"token_ids": sequences}, labels, batch_size=32, shuffle=True)
    trainer = get_strategy("at", {}).prepare(make_model(), task=None)
    trainer.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(),
                    jit_compile=True)
    history = trainer.fit(batches, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][0] == pytest.approx(
        history["clean_loss"][0] + history["adversarial_loss"][0], rel=1e-5
    )


@pytest.mark.parametrize("builder", ["memnet", "tnet"])
def test_the_absa_models_train_with_attention_at(builder: str) -> None:
    from attnkit.tasks.absa import AspectSentimentTask, MemNet, TNetATT
    from attnkit.tasks.absa.sample_data import sample_split

    task = AspectSentimentTask()
    split = sample_split("train", 64, seed=1)
    preprocessor = task.fit_preprocessor(split, task.preprocess_defaults)
    batches = task.batches(preprocessor, split, 16, shuffle=True, seed=0)
    keras.utils.set_random_seed(4)
    size = preprocessor.vocabulary_size
    model = (MemNet(vocabulary_size=size, num_classes=3, embedding_dim=16, hops=2)
             if builder == "memnet" else
             TNetATT(vocabulary_size=size, num_classes=3, embedding_dim=16, units=8,
                     freeze_embeddings=False, dropout=0.0))
    trainer = compiled_trainer("at", model)
    history = trainer.fit(batches, epochs=6, verbose=0).history
    assert history["clean_loss"][-1] < history["clean_loss"][0]
    assert history["loss"][0] == pytest.approx(
        history["clean_loss"][0] + history["adversarial_loss"][0], rel=1e-5
    )
