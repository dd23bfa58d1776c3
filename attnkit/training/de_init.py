"""Initialise a model's trainable weights with clustering-based differential evolution.

Moravvej et al. pre-train the LSTM, attention and feed-forward weights of their plagiarism
detector with an improved DE, then start back-propagation from its best individual ("DE
initialisation"). Here that works for any attnkit model: the individuals are flattened
trainable weights (frozen ones, such as pretrained BERT embeddings, are left alone), the
fitness is the compiled task loss on a fixed subset of training batches, evaluated without
gradients, and the operators are those of :mod:`attnkit.training.differential_evolution`.

As a training strategy (``training.strategy = "de-init"``) it runs once before the first
epoch of ``fit``; the ``[strategy]`` keys are :class:`DifferentialEvolutionInit`'s
arguments. The fitness curve is logged to MLflow (``de_best_fitness`` and
``de_mean_fitness`` per generation, ``de/fitness.csv``) with ``de_seconds``.

Example:
    >>> strategy = get_strategy("de-init", {"population": 10, "generations": 5})
    >>> strategy.name, strategy.population
    ('de-init', 10)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import torch

from attnkit.errors import ConfigError
from attnkit.training.differential_evolution import Generation, check_settings, evolve
from attnkit.training.perturbation_trainer import concat_inputs, split_unlabelled
from attnkit.training.strategies import TrainingStrategy, register_strategy
from attnkit.training.weight_vector import WeightVector

LossFn = Callable[[Any, Any, Any], Any]
INITS = ("scaled", "uniform", "local")
_CHUNK = 256  # examples per forward pass when evaluating a fitness


@dataclass
class DEInitResult:
    """What DE initialisation did: the fitness of the model's own initial weights, of the
    individual it kept, the per-generation curve, and its cost."""

    dimension: int
    initial_fitness: float
    best_fitness: float
    history: list[Generation]
    seconds: float
    holdout_initial: float | None = None
    holdout_best: float | None = None

    @property
    def evaluations(self) -> int:
        return self.history[-1].evaluations if self.history else 0

    def to_csv(self) -> str:
        rows = ["generation,best,mean,worst,evaluations,seconds,clusters"]
        rows += [
            f"{g.generation},{g.best:.6g},{g.mean:.6g},{g.worst:.6g},{g.evaluations},"
            f"{g.seconds:.3f},{g.clusters}"
            for g in self.history
        ]
        return "\n".join(rows) + "\n"


def initial_population(
    start: np.ndarray, weights: WeightVector, size: int, init: str, init_range: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """``size`` individuals; the first is ``start`` (the model's own initial weights).

    ``"scaled"``: each variable drawn uniformly with the root-mean-square of its initial
    values (so each individual is on the scale of a fresh Glorot/orthogonal init; all-zero
    variables such as most biases stay zero). ``"uniform"``: U(-init_range, init_range), the
    paper's option. ``"local"``: ``start`` plus such a draw scaled by ``init_range`` (e.g.
    0.1), so every individual keeps the structure of the model's own initialisation (an
    orthogonal recurrent kernel stays nearly orthogonal) and DE searches around it.
    """
    population = np.empty((size, weights.size), dtype=np.float32)
    population[0] = start
    for segment in weights.segments():
        if init == "uniform":
            bound = init_range
        else:
            bound = math.sqrt(3.0) * float(np.sqrt(np.mean(np.square(start[segment]))))
            if init == "local":
                bound *= init_range
        drawn = rng.uniform(-bound, bound, (size - 1, segment.stop - segment.start))
        population[1:, segment] = start[segment] + drawn if init == "local" else drawn
    return population


def fitness_batches(train_batches: Any, examples: int, skip: int = 0) -> list[tuple[Any, Any]]:
    """Batches of the first training batches (in the seeded epoch-0 order, so a random subset),
    ``examples`` in all at least, concatenated into chunks for fewer forward passes.
    ``skip`` leaves out the first ``skip`` batches (e.g. those the fitness is measured on, to
    get held-out ones); none are left when ``skip`` reaches the number of batches."""
    chosen_x, chosen_y, total = [], [], 0
    for index in range(skip, len(train_batches)):
        x, y = train_batches[index][:2]
        x, _ = split_unlabelled(x)  # a semi-supervised batch's unlabelled part has no loss
        chosen_x.append(x)
        chosen_y.append(np.asarray(y))
        total += len(chosen_y[-1])
        if total >= examples:
            break
    chunks, current_x, current_y = [], None, []
    for x, y in zip(chosen_x, chosen_y, strict=True):
        current_x = x if current_x is None else concat_inputs(current_x, x)
        current_y.append(y)
        if sum(len(part) for part in current_y) >= _CHUNK:
            chunks.append((current_x, np.concatenate(current_y)))
            current_x, current_y = None, []
    if current_x is not None:
        chunks.append((current_x, np.concatenate(current_y)))
    return [(keras.tree.map_structure(keras.ops.convert_to_tensor, x),
             keras.ops.convert_to_tensor(y)) for x, y in chunks]


def covering_batches(train_batches: Any, examples: int) -> int:
    """How many of the first training batches :func:`fitness_batches` takes for ``examples``."""
    total = 0
    for index in range(len(train_batches)):
        x, y = train_batches[index][:2]
        total += len(np.asarray(y))
        if total >= examples:
            return index + 1
    return len(train_batches)


def loss_fitness(
    model: keras.Model, weights: WeightVector, loss_fn: LossFn, batches: Sequence[tuple[Any, Any]]
) -> Callable[[np.ndarray], float]:
    """fitness(vector) = mean loss over ``batches`` with ``vector`` as the weights."""
    count = sum(int(y.shape[0]) for _, y in batches)

    def fitness(vector: np.ndarray) -> float:
        weights.set(vector)
        total = 0.0
        with torch.no_grad():
            for x, y in batches:
                loss = loss_fn(x, y, model(x, training=False))
                total += float(keras.ops.convert_to_numpy(loss)) * int(y.shape[0])
        value = total / count
        return value if math.isfinite(value) else math.inf

    return fitness


def initialize_with_de(
    model: keras.Model,
    loss_fn: LossFn,
    batches: Sequence[tuple[Any, Any]],
    *,
    population: int = 20,
    F: float = 0.5,  # noqa: N803 (the DE literature's name)
    CR: float = 0.9,  # noqa: N803
    clusters: int = 0,
    generations: int = 20,
    update_fraction: float = 0.2,
    init: str = "scaled",
    init_range: float = 1.0,
    layers: Sequence[str] = (),
    rng: np.random.Generator | None = None,
    callback: Callable[[Generation], None] | None = None,
    holdout: Sequence[tuple[Any, Any]] = (),
) -> DEInitResult:
    """Run clustering-based DE on ``model``'s trainable weights and keep the best individual.

    ``loss_fn(x, y, y_pred)`` is the fitness on each of ``batches`` (``(inputs, targets)``);
    individual 0 is the model's current weights, so the result is never worse than them on
    the fitness batches. With ``holdout`` batches, the same loss of the initial and of the
    kept weights on them is reported too (``holdout_initial``, ``holdout_best``): whether
    what DE gained on the fitness batches carries over to other examples.

    Example:
        >>> result = initialize_with_de(model, keras.losses.SparseCategoricalCrossentropy(),
        ...                             [(x, y)], population=10, generations=5)  # doctest: +SKIP
        >>> result.best_fitness <= result.initial_fitness  # doctest: +SKIP
        True
    """
    check_settings(population, F, CR, clusters, generations)
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if not 0.0 <= update_fraction < 1.0:
        raise ValueError(f"update_fraction must be in [0, 1), got {update_fraction}")
    if not batches:
        raise ValueError("DE initialisation needs at least one batch to evaluate the fitness")
    rng = rng if rng is not None else np.random.default_rng(0)
    if not model.built:
        model(batches[0][0], training=False)
    weights = WeightVector(model, layers)
    start = weights.get()
    individuals = initial_population(start, weights, population, init, init_range, rng)
    fitness = loss_fitness(model, weights, loss_fn, batches)
    started = time.perf_counter()
    try:
        result = evolve(
            fitness, individuals, generations=generations, scale=F, rate=CR, clusters=clusters,
            update_count=round(update_fraction * population), rng=rng, callback=callback,
        )
    except BaseException:
        weights.set(start)  # an interrupted search leaves the model as it found it
        raise
    holdout_initial = holdout_best = None
    if holdout:
        held_out = loss_fitness(model, weights, loss_fn, holdout)
        holdout_initial, holdout_best = held_out(start), held_out(result.best)
    weights.set(result.best)
    return DEInitResult(weights.size, float(result.initial_fitness[0]), result.best_fitness,
                        result.history, time.perf_counter() - started, holdout_initial,
                        holdout_best)


@register_strategy
class DifferentialEvolutionInit(TrainingStrategy):
    """Standard training, started from the best individual of a clustering-based DE.

    Args:
        population: NP, the number of weight vectors (individual 0 is the model's own init).
        F: the mutation's scale factor.
        CR: the binomial crossover rate.
        clusters: k of the k-means in each generation; 0 draws k in [2, floor(sqrt(NP))].
        generations: DE generations (each costs NP + round(update_fraction * NP) fitness
            evaluations).
        update_fraction: share of NP added each generation by the updating scheme.
        fitness_examples: training examples the fitness (the task loss) is measured on.
        holdout_examples: further training examples (after the fitness ones) on which the
            loss of the initial and of the kept weights is reported (0 = none).
        init: ``"scaled"`` (each variable drawn on the scale of its initial values),
            ``"uniform"`` (U(-init_range, init_range) everywhere, the paper's option) or
            ``"local"`` (the model's initial values plus a ``"scaled"`` draw times
            ``init_range``).
        init_range: the bound of ``"uniform"``; the relative perturbation of ``"local"``.
        layers: comma-separated layer names whose trainable weights are evolved (empty: all
            trainable weights; frozen ones never are).
        seed: the DE's random seed; -1 follows the recipe seed.
    """

    name = "de-init"

    def __init__(
        self,
        population: int = 20,
        F: float = 0.5,  # noqa: N803
        CR: float = 0.9,  # noqa: N803
        clusters: int = 0,
        generations: int = 20,
        update_fraction: float = 0.2,
        fitness_examples: int = 512,
        holdout_examples: int = 0,
        init: str = "scaled",
        init_range: float = 1.0,
        layers: str = "",
        seed: int = -1,
    ) -> None:
        try:
            check_settings(population, F, CR, clusters, generations)
        except ValueError as error:
            raise ConfigError(f"[strategy] {error}") from None
        if init not in INITS:
            raise ConfigError(f"strategy.init must be one of {INITS}, got {init!r}")
        if not 0.0 <= update_fraction < 1.0:
            raise ConfigError(f"strategy.update_fraction must be in [0, 1), got {update_fraction}")
        if fitness_examples <= 0:
            raise ConfigError(f"strategy.fitness_examples must be positive, got {fitness_examples}")
        if holdout_examples < 0:
            raise ConfigError(f"strategy.holdout_examples must be >= 0, got {holdout_examples}")
        if init == "local" and init_range <= 0:
            raise ConfigError(f"strategy.init_range must be positive, got {init_range}")
        self.population = population
        self.F = F
        self.CR = CR
        self.clusters = clusters
        self.generations = generations
        self.update_fraction = update_fraction
        self.fitness_examples = fitness_examples
        self.holdout_examples = holdout_examples
        self.init = init
        self.init_range = init_range
        self.layers = tuple(name.strip() for name in layers.split(",") if name.strip())
        self.seed = seed
        self.result: DEInitResult | None = None

    def initialize(self, model: keras.Model, trainer: keras.Model, train_batches: Any) -> None:
        import mlflow

        seed = self.seed if self.seed >= 0 else int(np.random.randint(2**31 - 1))
        batches = fitness_batches(train_batches, self.fitness_examples)
        holdout = []
        if self.holdout_examples:
            used = covering_batches(train_batches, self.fitness_examples)
            holdout = fitness_batches(train_batches, self.holdout_examples, skip=used)

        def loss_fn(x, y, y_pred):
            return trainer.compute_loss(x=x, y=y, y_pred=y_pred, training=False)

        logging = mlflow.active_run() is not None

        def report(entry: Generation) -> None:
            print(f"[attnkit] DE generation {entry.generation}/{self.generations}: best "
                  f"{entry.best:.4f}, mean {entry.mean:.4f} (k={entry.clusters}, "
                  f"{entry.evaluations} evaluations, {entry.seconds:.0f} s)", flush=True)
            if logging:
                mlflow.log_metrics({"de_best_fitness": entry.best, "de_mean_fitness": entry.mean},
                                   step=entry.generation)

        result = initialize_with_de(
            model, loss_fn, batches, population=self.population, F=self.F, CR=self.CR,
            clusters=self.clusters, generations=self.generations,
            update_fraction=self.update_fraction, init=self.init, init_range=self.init_range,
            layers=self.layers, rng=np.random.default_rng(seed), callback=report,
            holdout=holdout,
        )
        self.result = result
        print(f"[attnkit] DE initialisation: {result.dimension} weights, fitness "
              f"{result.initial_fitness:.4f} (initial weights) -> {result.best_fitness:.4f} "
              f"in {result.seconds:.0f} s", flush=True)
        if result.holdout_initial is not None:
            print(f"[attnkit] DE on {self.holdout_examples} held-out training examples: loss "
                  f"{result.holdout_initial:.4f} (initial weights) -> {result.holdout_best:.4f}",
                  flush=True)
        if logging:
            mlflow.log_metrics({
                "de_seconds": result.seconds,
                "de_evaluations": float(result.evaluations),
                "de_initial_fitness": result.initial_fitness,
                "de_final_fitness": result.best_fitness,
                "de_dimension": float(result.dimension),
            })
            if result.holdout_initial is not None:
                mlflow.log_metrics({"de_holdout_initial": result.holdout_initial,
                                    "de_holdout_final": result.holdout_best})
            mlflow.log_text(result.to_csv(), "de/fitness.csv")
