"""The clustering-based DE operators on small known problems (pure NumPy, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from attnkit.training.differential_evolution import (
    binomial_crossover,
    cluster_base,
    cluster_mutation,
    cluster_population,
    draw_cluster_count,
    evolve,
    greedy_selection,
    replace_worst,
    winner_candidates,
    winning_cluster,
)

SHIFT = np.array([1.5, -2.0, 0.5, 3.0, -1.0])
BOUND = 5.0


def shifted_sphere(x: np.ndarray) -> float:
    return float(np.sum((np.asarray(x) - SHIFT) ** 2))


def random_search(evaluations: int, rng: np.random.Generator) -> float:
    samples = rng.uniform(-BOUND, BOUND, (evaluations, len(SHIFT)))
    return float(np.min(np.sum((samples - SHIFT) ** 2, axis=1)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_de_beats_random_search_on_a_shifted_sphere_with_the_same_evaluations(seed: int) -> None:
    rng = np.random.default_rng(seed)
    population = rng.uniform(-BOUND, BOUND, (20, len(SHIFT)))
    result = evolve(shifted_sphere, population, generations=40, scale=0.5, rate=0.9, rng=rng)
    assert result.evaluations == 20 + 40 * (20 + 4)
    assert len(result.history) == 41
    searched = random_search(result.evaluations, np.random.default_rng(100 + seed))
    # Random search gets to about 1-5 with 980 points; DE (best-based, NP=20) to under 0.25.
    assert result.best_fitness < 0.25
    assert result.best_fitness < searched / 5
    assert shifted_sphere(result.best) == pytest.approx(result.best_fitness)
    # Greedy selection and replace-worst never lose the best individual.
    bests = [entry.best for entry in result.history]
    assert all(later <= earlier for earlier, later in zip(bests, bests[1:], strict=False))


def test_kmeans_groups_separated_blobs_and_the_winner_is_the_best_mean() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    population = np.concatenate([c + rng.normal(0, 0.1, (4, 2)) for c in centres])
    labels = cluster_population(population, 3, rng)
    assert len(set(labels[:4])) == len(set(labels[4:8])) == len(set(labels[8:])) == 1
    assert len(set(labels)) == 3
    # Blob 2 has the best mean fitness; blob 0 holds the single best individual.
    fitness = np.array([0.0, 9.0, 9.0, 9.0, 2.0, 2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0])
    assert winning_cluster(labels, fitness) == labels[4]


def test_the_base_vector_is_the_best_member_of_the_winning_cluster() -> None:
    labels = np.array([0, 0, 1, 1, 1, 2])
    fitness = np.array([0.1, 5.0, 1.0, 0.9, 1.2, 3.0])  # global best (index 0) is in cluster 0
    winner = winning_cluster(labels, fitness)
    assert winner == 1  # means: cluster 0 = 2.55, cluster 1 = 1.03, cluster 2 = 3.0
    base = cluster_base(labels, fitness, winner)
    assert base == 3
    population = np.arange(6, dtype=float)[:, None] * np.ones((6, 3))
    mutants = cluster_mutation(population, base, 0.5, np.random.default_rng(0))
    # v_i = x_base + F (x_r1 - x_r2): every mutant is the base plus half an integer difference.
    offsets = (mutants - population[base]) / 0.5
    np.testing.assert_allclose(offsets, np.round(offsets))
    assert np.all(np.abs(offsets[:, 0]) >= 1)  # r1 != r2


def test_mutation_indices_differ_from_the_target() -> None:
    population = np.eye(5) * 100.0  # each individual is a distinct one-hot direction
    rng = np.random.default_rng(3)
    for _ in range(20):
        mutants = cluster_mutation(population, base=0, scale=1.0, rng=rng)
        for i in range(5):
            difference = mutants[i] - population[0]  # = x_r1 - x_r2 (F = 1)
            assert np.count_nonzero(difference) == 2 and difference[i] == 0.0


def test_binomial_crossover_takes_at_least_one_mutant_coordinate() -> None:
    rng = np.random.default_rng(0)
    targets, mutants = np.zeros((50, 8)), np.ones((50, 8))
    none = binomial_crossover(targets, mutants, 0.0, rng)
    assert np.all(none.sum(axis=1) == 1)  # only j_rand
    every = binomial_crossover(targets, mutants, 1.0, rng)
    assert np.all(every == 1)
    half = binomial_crossover(targets, mutants, 0.5, rng)
    assert 0.4 < half.mean() < 0.65


def test_greedy_selection_keeps_the_better_or_equal() -> None:
    population, trials = np.zeros((3, 2)), np.ones((3, 2))
    kept, fitness = greedy_selection(population, np.array([1.0, 1.0, 1.0]), trials,
                                     np.array([0.5, 1.0, 2.0]))
    np.testing.assert_array_equal(kept[:, 0], [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(fitness, [0.5, 1.0, 1.0])


def test_updating_scheme_replaces_only_worse_individuals() -> None:
    population = np.arange(5, dtype=float)[:, None] * np.ones((5, 2))
    fitness = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    candidates = np.full((2, 2), 9.0)
    new, new_fitness = replace_worst(population, fitness, candidates, np.array([3.5, 10.0]))
    np.testing.assert_array_equal(new_fitness, [0.0, 1.0, 2.0, 3.0, 3.5])  # only the worst beaten
    np.testing.assert_array_equal(new[4], [9.0, 9.0])
    labels = np.array([0, 0, 0, 1, 1])
    drawn = winner_candidates(population, labels, 0, 0, 0.5, 4, np.random.default_rng(0))
    steps = (drawn - population[0]) / 0.5
    assert np.all(np.isin(np.abs(steps[:, 0]), [1.0, 2.0]))  # differences of cluster-0 members


def test_cluster_count_is_fixed_or_drawn_up_to_sqrt_population() -> None:
    rng = np.random.default_rng(0)
    assert draw_cluster_count(20, 3, rng) == 3
    drawn = {draw_cluster_count(20, 0, rng) for _ in range(200)}
    assert drawn == {2, 3, 4}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"scale": 0.0}, "F must"), ({"rate": 1.5}, "CR must"), ({"clusters": 30}, "clusters"),
     ({"generations": -1}, "generations")],
)
def test_bad_settings(arguments: dict, message: str) -> None:
    settings = {"generations": 1, "rng": np.random.default_rng(0), **arguments}
    with pytest.raises(ValueError, match=message):
        evolve(shifted_sphere, np.zeros((10, 5)), **settings)
    with pytest.raises(ValueError, match="at least 4"):
        evolve(shifted_sphere, np.zeros((3, 5)), generations=1, rng=np.random.default_rng(0))
