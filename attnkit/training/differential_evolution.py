"""Differential evolution with a clustering-based mutation (Clu-DE), as pure NumPy functions.

The improved DE of Moravvej et al. (plagiarism detection) and Mousavirad et al. (Clu-DE):
each generation clusters the population with k-means, takes the cluster with the best mean
fitness as the *winning* cluster and its best member as the base vector of every mutant
``v_i = x_base + F * (x_r1 - x_r2)``; binomial crossover (CR) and greedy selection follow,
then an updating step adds a few candidates drawn around the winning cluster, each replacing
one of the worst individuals when it is better. Lower fitness is better.

Paper-specified: winning cluster, its best member as base vector, the updating scheme
(structure from the abstracts). Library choices [INF]: winning cluster = best *mean* fitness,
k drawn in [2, floor(sqrt(NP))] unless fixed, updating candidates ``base + F * (x_a - x_b)``
with a, b from the winning cluster.

Example:
    >>> rng = np.random.default_rng(0)
    >>> sphere = lambda x: float(np.sum((x - 1.0) ** 2))
    >>> result = evolve(sphere, rng.uniform(-5, 5, (12, 3)), generations=60, rng=rng)
    >>> result.best_fitness < 1e-3
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans

Fitness = Callable[[np.ndarray], float]


@dataclass
class Generation:
    """The population's fitness after one generation (generation 0 is the initial one)."""

    generation: int
    best: float
    mean: float
    worst: float
    evaluations: int
    seconds: float
    clusters: int = 0


@dataclass
class EvolutionResult:
    best: np.ndarray
    best_fitness: float
    initial_fitness: np.ndarray
    history: list[Generation] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        return self.history[-1].evaluations if self.history else 0


def cluster_population(population: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """K-means labels (one per individual) of the population, ``k`` clusters."""
    k = max(1, min(k, len(population)))
    if k == 1:
        return np.zeros(len(population), dtype=np.int64)
    kmeans = KMeans(n_clusters=k, n_init=3, random_state=int(rng.integers(2**31 - 1)))
    return kmeans.fit_predict(population.astype(np.float32, copy=False)).astype(np.int64)


def winning_cluster(labels: np.ndarray, fitness: np.ndarray) -> int:
    """The cluster whose members have the lowest mean fitness."""
    clusters = np.unique(labels)
    means = [fitness[labels == c].mean() for c in clusters]
    return int(clusters[int(np.argmin(means))])


def cluster_base(labels: np.ndarray, fitness: np.ndarray, cluster: int) -> int:
    """Index of the fittest member of ``cluster``: the base vector of the mutation."""
    members = np.flatnonzero(labels == cluster)
    return int(members[np.argmin(fitness[members])])


def _distinct_pair(size: int, exclude: int, rng: np.random.Generator) -> tuple[int, int]:
    choices = [i for i in range(size) if i != exclude]
    first, second = rng.choice(choices, size=2, replace=False)
    return int(first), int(second)


def cluster_mutation(
    population: np.ndarray, base: int, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Mutants ``v_i = x_base + F * (x_r1 - x_r2)``, with r1 != r2 != i drawn per target."""
    size = len(population)
    mutants = np.empty_like(population)
    for i in range(size):
        r1, r2 = _distinct_pair(size, i, rng)
        mutants[i] = population[base] + scale * (population[r1] - population[r2])
    return mutants


def binomial_crossover(
    targets: np.ndarray, mutants: np.ndarray, rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Each coordinate from the mutant with probability CR; at least one (j_rand) always."""
    take = rng.random(targets.shape) < rate
    take[np.arange(len(targets)), rng.integers(targets.shape[1], size=len(targets))] = True
    return np.where(take, mutants, targets)


def greedy_selection(
    population: np.ndarray, fitness: np.ndarray, trials: np.ndarray, trial_fitness: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A trial replaces its target when its fitness is lower or equal."""
    better = trial_fitness <= fitness
    return np.where(better[:, None], trials, population), np.where(better, trial_fitness, fitness)


def winner_candidates(
    population: np.ndarray,
    labels: np.ndarray,
    winner: int,
    base: int,
    scale: float,
    count: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``count`` new candidates ``x_base + F * (x_a - x_b)`` around the winning cluster (a, b
    from its members when it has two or more, else from the whole population)."""
    members = np.flatnonzero(labels == winner)
    pool = members if len(members) >= 2 else np.arange(len(population))
    candidates = np.empty((count, population.shape[1]), dtype=population.dtype)
    for j in range(count):
        a, b = rng.choice(pool, size=2, replace=False)
        candidates[j] = population[base] + scale * (population[a] - population[b])
    return candidates


def replace_worst(
    population: np.ndarray,
    fitness: np.ndarray,
    candidates: np.ndarray,
    candidate_fitness: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pair the best candidates with the worst individuals; each candidate that is better
    than its partner takes its place."""
    population, fitness = population.copy(), fitness.copy()
    worst_first = np.argsort(-fitness, kind="stable")
    for slot, candidate in zip(worst_first, np.argsort(candidate_fitness, kind="stable"), strict=False):
        if candidate_fitness[candidate] < fitness[slot]:
            population[slot] = candidates[candidate]
            fitness[slot] = candidate_fitness[candidate]
    return population, fitness


def draw_cluster_count(size: int, clusters: int, rng: np.random.Generator) -> int:
    """``clusters`` if positive, else a k drawn uniformly from [2, floor(sqrt(NP))]."""
    if clusters > 0:
        return min(clusters, size)
    return int(rng.integers(2, max(2, math.isqrt(size)) + 1))


def check_settings(size: int, scale: float, rate: float, clusters: int, generations: int) -> None:
    if size < 4:
        raise ValueError(f"population must be at least 4, got {size}")
    if not 0.0 < scale <= 2.0:
        raise ValueError(f"F must be in (0, 2], got {scale}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"CR must be in [0, 1], got {rate}")
    if clusters < 0 or clusters > size:
        raise ValueError(f"clusters must be 0 (random) or 1..{size}, got {clusters}")
    if generations < 0:
        raise ValueError(f"generations must be >= 0, got {generations}")


def evolve(
    fitness_fn: Fitness,
    population: np.ndarray,
    *,
    generations: int,
    scale: float = 0.5,
    rate: float = 0.9,
    clusters: int = 0,
    update_count: int | None = None,
    rng: np.random.Generator,
    callback: Callable[[Generation], None] | None = None,
) -> EvolutionResult:
    """Minimise ``fitness_fn`` from ``population`` (NP x D) with clustering-based DE.

    ``update_count`` (default NP/5) candidates join through the updating scheme each
    generation, so a generation costs NP + update_count evaluations.
    """
    population = np.array(population, copy=True)
    size = len(population)
    check_settings(size, scale, rate, clusters, generations)
    update_count = max(1, size // 5) if update_count is None else update_count
    started = time.perf_counter()
    fitness = np.array([fitness_fn(x) for x in population], dtype=np.float64)
    initial = fitness.copy()
    evaluations = size

    def record(generation: int, k: int) -> None:
        entry = Generation(generation, float(fitness.min()), float(fitness.mean()),
                           float(fitness.max()), evaluations, time.perf_counter() - started, k)
        history.append(entry)
        if callback is not None:
            callback(entry)

    history: list[Generation] = []
    record(0, 0)
    for generation in range(1, generations + 1):
        k = draw_cluster_count(size, clusters, rng)
        labels = cluster_population(population, k, rng)
        winner = winning_cluster(labels, fitness)
        base = cluster_base(labels, fitness, winner)
        mutants = cluster_mutation(population, base, scale, rng)
        trials = binomial_crossover(population, mutants, rate, rng)
        trial_fitness = np.array([fitness_fn(x) for x in trials], dtype=np.float64)
        population, fitness = greedy_selection(population, fitness, trials, trial_fitness)
        if update_count:
            base = cluster_base(labels, fitness, winner)  # selection may have improved members
            candidates = winner_candidates(population, labels, winner, base, scale, update_count, rng)
            candidate_fitness = np.array([fitness_fn(x) for x in candidates], dtype=np.float64)
            population, fitness = replace_worst(population, fitness, candidates, candidate_fitness)
        evaluations += size + update_count
        record(generation, k)
    best = int(np.argmin(fitness))
    return EvolutionResult(population[best].copy(), float(fitness[best]), initial, history)

