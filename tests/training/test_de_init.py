"""DE initialisation on real attnkit models: weight vectors, the search, the strategy in fit."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from attnkit.errors import ConfigError
from attnkit.pipelines import cli
from attnkit.tasks.text_classification.model import TextClassifier
from attnkit.training import get_strategy
from attnkit.training.de_init import (
    covering_batches,
    fitness_batches,
    initial_population,
    initialize_with_de,
    loss_fitness,
)
from attnkit.training.weight_vector import WeightVector


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(11)


def tiny_classifier(**overrides) -> TextClassifier:
    arguments = dict(vocabulary_size=20, num_classes=2, embedding_dim=6, units=3, head="additive",
                     attention_units=4, dropout=0.0, freeze_embeddings=True)
    arguments.update(overrides)
    return TextClassifier(**arguments)


def token_batch(size: int = 48, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, 20, (size, 6)).astype("int32")
    labels = (ids == 5).any(axis=1).astype("int32")
    return {"token_ids": ids}, labels


def sparse_ce(x, y, y_pred):
    return keras.losses.SparseCategoricalCrossentropy()(y, y_pred)


def test_weight_vector_round_trip_and_layer_scope() -> None:
    model = tiny_classifier()
    weights = WeightVector(model)
    assert weights.size == sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert all(v.trainable for v in weights.variables)
    vector = np.arange(weights.size, dtype="float32") / weights.size
    weights.set(vector)
    np.testing.assert_array_equal(weights.get(), vector)
    head = WeightVector(model, ["attention_head", "classifier"])
    assert head.size == 6 * 4 + 4 + 4 + 6 * 2 + 2
    with pytest.raises(ConfigError, match="no layer 'nope'"):
        WeightVector(model, ["nope"])
    with pytest.raises(ConfigError, match="no trainable weights"):
        WeightVector(model, ["embedding"])  # frozen
    with pytest.raises(ValueError, match="expected a vector of"):
        weights.set(vector[:-1])


def test_initial_population_keeps_the_model_init_first_and_its_scale() -> None:
    model = tiny_classifier()
    weights = WeightVector(model)
    start = weights.get()
    population = initial_population(start, weights, 30, "scaled", 1.0, np.random.default_rng(0))
    np.testing.assert_array_equal(population[0], start)
    for segment in weights.segments():
        rms = np.sqrt(np.mean(start[segment] ** 2))
        drawn = population[1:, segment]
        if rms == 0:
            assert np.all(drawn == 0)  # zero-initialised biases stay zero
        else:
            assert np.abs(drawn).max() <= np.sqrt(3) * rms + 1e-6
            assert np.sqrt(np.mean(drawn**2)) == pytest.approx(rms, rel=0.25)
    uniform = initial_population(start, weights, 5, "uniform", 0.5, np.random.default_rng(0))
    assert np.abs(uniform[1:]).max() <= 0.5 and np.abs(uniform[1:]).max() > 0.4


def test_local_population_stays_around_the_model_init() -> None:
    model = tiny_classifier()
    weights = WeightVector(model)
    start = weights.get()
    population = initial_population(start, weights, 12, "local", 0.1, np.random.default_rng(0))
    np.testing.assert_array_equal(population[0], start)
    assert not np.array_equal(population[1], start)
    for segment in weights.segments():
        rms = np.sqrt(np.mean(start[segment] ** 2))
        offsets = population[1:, segment] - start[segment]
        assert np.abs(offsets).max() <= 0.1 * np.sqrt(3) * rms + 1e-6
    # far closer to the init than a "scaled" population (which is independent of it)
    scaled = initial_population(start, weights, 12, "scaled", 1.0, np.random.default_rng(0))
    distance = np.linalg.norm(population[1:] - start, axis=1).mean()
    assert distance < 0.2 * np.linalg.norm(scaled[1:] - start, axis=1).mean()


def test_de_reports_the_loss_on_held_out_batches() -> None:
    model = tiny_classifier()
    x, y = token_batch(seed=0)
    held_x, held_y = token_batch(seed=1)
    start = WeightVector(model).get()
    result = initialize_with_de(model, sparse_ce, [(x, y)], population=6, generations=2,
                                rng=np.random.default_rng(0), holdout=[(held_x, held_y)])
    weights = WeightVector(model)
    kept = weights.get()
    held_out = loss_fitness(model, weights, sparse_ce, [(held_x, held_y)])
    assert result.holdout_initial == pytest.approx(held_out(start), rel=1e-5)
    assert result.holdout_best == pytest.approx(held_out(kept), rel=1e-5)
    weights.set(kept)
    assert initialize_with_de(model, sparse_ce, [(x, y)], population=4,
                              generations=0).holdout_initial is None


def test_de_keeps_the_best_individual_and_never_touches_frozen_weights() -> None:
    model = tiny_classifier()
    x, y = token_batch()
    embeddings = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings).copy()
    generations = []
    result = initialize_with_de(model, sparse_ce, [(x, y)], population=8, generations=4,
                                rng=np.random.default_rng(0), callback=generations.append)
    assert [g.generation for g in generations] == [0, 1, 2, 3, 4]
    assert result.evaluations == 8 + 4 * (8 + 2)
    assert result.best_fitness <= result.initial_fitness
    assert result.best_fitness == pytest.approx(generations[-1].best)
    # The model now holds the best individual: its loss is the reported best fitness.
    weights = WeightVector(model)
    assert loss_fitness(model, weights, sparse_ce, [(x, y)])(weights.get()) == pytest.approx(
        result.best_fitness, rel=1e-5)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings), embeddings)
    assert result.to_csv().splitlines()[0] == "generation,best,mean,worst,evaluations,seconds,clusters"
    assert len(result.to_csv().splitlines()) == 6


def test_de_on_some_layers_changes_only_those() -> None:
    model = tiny_classifier()
    x, y = token_batch()
    encoder = [keras.ops.convert_to_numpy(v).copy() for v in model.get_layer("encoder").weights]
    classifier = keras.ops.convert_to_numpy(model.get_layer("classifier").kernel).copy()
    initialize_with_de(model, sparse_ce, [(x, y)], population=6, generations=3,
                       layers=["classifier"], rng=np.random.default_rng(1))
    for before, variable in zip(encoder, model.get_layer("encoder").weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), before)
    assert not np.array_equal(keras.ops.convert_to_numpy(model.get_layer("classifier").kernel),
                              classifier)


def test_an_interrupted_search_restores_the_weights() -> None:
    model = tiny_classifier()
    x, y = token_batch()
    before = WeightVector(model).get()
    calls = []

    def failing_loss(x, y, y_pred):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return sparse_ce(x, y, y_pred)

    with pytest.raises(KeyboardInterrupt):
        initialize_with_de(model, failing_loss, [(x, y)], population=6, generations=2)
    np.testing.assert_array_equal(WeightVector(model).get(), before)


def test_fitness_batches_take_a_subset_and_drop_unlabelled_inputs() -> None:
    from attnkit.data.batches import BucketedBatches
    from attnkit.data.interleaved import InterleavedBatches

    ids = [[2 + i % 7] * (1 + i % 5) for i in range(100)]
    labelled = BucketedBatches({"token_ids": ids}, np.arange(100) % 2, 16, True, 0)
    chunks = fitness_batches(labelled, 40)
    total = sum(int(y.shape[0]) for _, y in chunks)
    assert 40 <= total < 40 + 16  # whole batches until 40 examples are in
    used = covering_batches(labelled, 40)
    sizes = [len(labelled[index][1]) for index in range(used)]
    assert sum(sizes) >= 40 > sum(sizes[:-1]) and sum(sizes) == total
    # labelled by row number: the held-out batches after the skipped ones are other rows
    numbered = BucketedBatches({"token_ids": ids}, np.arange(100), 16, True, 0)
    first = fitness_batches(numbered, 40)
    later = fitness_batches(numbered, 30, skip=covering_batches(numbered, 40))
    rows = [set(np.concatenate([keras.ops.convert_to_numpy(y) for _, y in part]).tolist())
            for part in (first, later)]
    assert len(rows[1]) >= 30 and not rows[0] & rows[1]
    assert fitness_batches(labelled, 10, skip=len(labelled)) == []
    extra = BucketedBatches({"token_ids": ids}, None, 16, True, 1)
    mixed = fitness_batches(InterleavedBatches(labelled, extra), 20)
    assert all(set(x) == {"token_ids"} for x, _ in mixed)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"population": 3}, "population must be at least 4"), ({"F": 0}, "F must"),
     ({"CR": 2.0}, "CR must"), ({"clusters": 50}, "clusters"), ({"init": "zeros"}, "init"),
     ({"update_fraction": 1.0}, "update_fraction"), ({"fitness_examples": 0}, "fitness_examples"),
     ({"holdout_examples": -1}, "holdout_examples"),
     ({"init": "local", "init_range": 0.0}, "init_range")],
)
def test_bad_strategy_settings_are_config_errors(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_strategy("de-init", params)


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


@pytest.mark.usefixtures("mlflow_db")
def test_fit_with_de_init_logs_the_fitness_curve(capsys, sample_dir: Path, tiny_overrides) -> None:
    overrides = [*tiny_overrides, "model.head=additive", "training.strategy=de-init",
                 "strategy.population=6", "strategy.generations=3", "strategy.fitness_examples=64",
                 "strategy.layers=attention_head,classifier"]
    code = cli.main(["fit", "sample-lama", "--data", str(sample_dir), "--json", *sets(overrides)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "DE generation 3/3" in out and "DE initialisation:" in out
    summary = json.loads(out.strip().splitlines()[-1])
    client = MlflowClient()
    run = client.get_run(summary["run_id"])
    assert run.data.params["training.strategy"] == "de-init"
    assert run.data.params["strategy.population"] == "6"
    curve = client.get_metric_history(run.info.run_id, "de_best_fitness")
    assert [m.step for m in curve] == [0, 1, 2, 3]
    assert all(b.value <= a.value for a, b in zip(curve, curve[1:], strict=False))
    metrics = run.data.metrics
    assert metrics["de_final_fitness"] <= metrics["de_initial_fitness"]
    assert metrics["de_evaluations"] == 6 + 3 * (6 + 1) and metrics["de_seconds"] > 0
    artifact = client.download_artifacts(run.info.run_id, "de/fitness.csv")
    assert len(Path(artifact).read_text().splitlines()) == 5
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 2  # then backprop


@pytest.mark.usefixtures("mlflow_db")
def test_bad_de_setting_exits_2(capsys, sample_dir: Path, tiny_overrides) -> None:
    code = cli.main(["fit", "sample-lama", "--data", str(sample_dir), *sets(
        [*tiny_overrides, "training.strategy=de-init", "strategy.population=2"])])
    assert code == 2
    assert "population must be at least 4" in capsys.readouterr().err
