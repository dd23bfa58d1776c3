"""Package-level behaviour: backend selection, seeding, and length-bucketed batches."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import keras
import numpy as np
import pytest
import torch

import attnkit
from attnkit.data.batches import BucketedBatches, pad_sequences


def run_python(code: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


# --- backend --------------------------------------------------------------------------------


def test_import_selects_the_torch_backend() -> None:
    assert os.environ["KERAS_BACKEND"] == "torch"
    assert keras.backend.backend() == "torch"
    completed = run_python(
        "import os, attnkit; print(os.environ['KERAS_BACKEND']); "
        "import keras; print(keras.backend.backend())",
        KERAS_BACKEND=None,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["torch", "torch"]


def test_import_refuses_another_backend() -> None:
    completed = run_python("import attnkit", KERAS_BACKEND="jax")
    assert completed.returncode != 0
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith("attnkit.backend.BackendError")
    assert "KERAS_BACKEND='jax'" in last and "torch" in last


def test_device_name() -> None:
    assert attnkit.backend.device_name() in {"cpu", "cuda", "mps"}
    assert attnkit.backend.device_description().startswith(attnkit.backend.device_name())


# --- seeding --------------------------------------------------------------------------------


def draws() -> tuple:
    return (
        torch.rand(4).tolist(),
        np.random.rand(4).tolist(),
        random.random(),
        keras.ops.convert_to_numpy(keras.random.uniform((4,))).tolist(),
    )


@pytest.fixture
def restore_seed_state(monkeypatch: pytest.MonkeyPatch):
    """seed_everything sets process-wide state; put the environment and torch flags back."""
    monkeypatch.setenv("PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED", "0"))
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""))
    flags = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    yield
    torch.use_deterministic_algorithms(flags[0], warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[1], flags[2]


def test_seed_everything_is_reproducible(restore_seed_state) -> None:
    assert attnkit.seed_everything(11) == {"seed": 11, "deterministic": False}
    first = draws()
    attnkit.seed_everything(11)
    assert draws() == first
    attnkit.seed_everything(12)
    other = draws()
    for a, b in zip(first, other, strict=True):
        assert a != b
    assert os.environ["PYTHONHASHSEED"] == "12"


def test_seed_everything_deterministic_flag(restore_seed_state) -> None:
    assert attnkit.seed_everything(0, deterministic=True) == {"seed": 0, "deterministic": True}
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    attnkit.seed_everything(0)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("seed", [-1, 1.5, "3", None])
def test_seed_everything_rejects_bad_seeds(seed, restore_seed_state) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        attnkit.seed_everything(seed)


# --- BucketedBatches ------------------------------------------------------------------------


def ragged(size: int = 103, seed: int = 0) -> list[list[int]]:
    """Sequences whose first token is their row number (so rows can be traced) and whose
    lengths vary from 1 to 30."""
    rng = np.random.default_rng(seed)
    return [[row + 1, *rng.integers(1, 50, size=int(rng.integers(0, 30)))] for row in range(size)]


def rows_of(batch: np.ndarray) -> list[int]:
    return (batch[:, 0] - 1).tolist()


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_example_once_per_epoch_padded_to_the_batch_longest(shuffle: bool) -> None:
    sequences = ragged()
    labels = np.arange(len(sequences)) * 10
    batches = BucketedBatches(
        {"token_ids": sequences}, labels, batch_size=8, shuffle=shuffle, seed=3, bucket_batches=4
    )
    assert len(batches) == batches.num_batches == 13  # ceil(103 / 8)
    for _ in range(3):
        seen = []
        for index in range(len(batches)):
            inputs, batch_labels = batches[index]
            ids = inputs["token_ids"]
            rows = rows_of(ids)
            seen.extend(rows)
            assert ids.dtype == np.int32
            assert ids.shape[1] == max(len(sequences[r]) for r in rows)
            for line, row in zip(ids, rows, strict=True):
                length = len(sequences[row])
                assert line[:length].tolist() == sequences[row]
                assert np.all(line[length:] == 0)
            np.testing.assert_array_equal(batch_labels, labels[rows])
            assert len(rows) == 8 or index == len(batches) - 1 or shuffle
        assert sorted(seen) == list(range(len(sequences)))
        batches.on_epoch_end()


def test_bucketing_keeps_padding_low() -> None:
    sequences = ragged(size=200)
    padding = {}
    for name, options in {
        "sorted": {"shuffle": False},
        "one bucket": {"shuffle": True, "bucket_batches": 100},
        "no buckets": {"shuffle": True, "bucket_batches": 1},
    }.items():
        batches = BucketedBatches({"token_ids": sequences}, None, batch_size=10, seed=0, **options)
        padding[name] = sum(
            int((batches[i][0]["token_ids"] == 0).sum()) for i in range(len(batches))
        )
    # A bucket spanning all the data pads exactly as little as a global length sort.
    assert padding["one bucket"] == padding["sorted"]
    assert padding["no buckets"] > 2 * padding["sorted"]


@pytest.mark.parametrize("shuffle", [True, False])
def test_unsort_restores_input_order(shuffle: bool) -> None:
    sequences = ragged(size=57)
    batches = BucketedBatches({"token_ids": sequences}, None, batch_size=5, shuffle=shuffle, seed=1)
    # "Predictions" in batch order: each row's output is its row number, twice.
    outputs = np.concatenate(
        [
            np.repeat(np.array(rows_of(batches[i][0]["token_ids"]))[:, None], 2, axis=1)
            for i in range(len(batches))
        ]
    )
    assert not np.array_equal(outputs[:, 0], np.arange(57))  # batch order is not input order
    np.testing.assert_array_equal(
        batches.unsort(outputs), np.repeat(np.arange(57)[:, None], 2, axis=1)
    )


def epoch_orders(seed: int, epochs: int) -> list[list[int]]:
    batches = BucketedBatches({"token_ids": ragged()}, None, batch_size=8, shuffle=True, seed=seed)
    orders = []
    for _ in range(epochs):
        orders.append(np.concatenate(batches.order).tolist())
        batches.on_epoch_end()
    return orders


def test_order_is_reproducible_per_seed_and_epoch_and_differs_across_epochs() -> None:
    first = epoch_orders(seed=5, epochs=3)
    assert epoch_orders(seed=5, epochs=3) == first
    assert first[0] != first[1] != first[2] != first[0]
    assert epoch_orders(seed=6, epochs=1)[0] != first[0]
    # Setting the epoch (as a resumed fit does) gives that epoch's order directly.
    resumed = BucketedBatches({"token_ids": ragged()}, None, batch_size=8, shuffle=True, seed=5)
    resumed.epoch = 2
    assert resumed.epoch == 2
    assert np.concatenate(resumed.order).tolist() == first[2]


def test_unshuffled_order_is_a_stable_length_sort_and_never_changes() -> None:
    sequences = [[1, 2, 3], [4], [5, 6], [7], [8, 9, 10]]
    batches = BucketedBatches({"token_ids": sequences}, [0, 1, 0, 1, 0], batch_size=2)
    assert [b.tolist() for b in batches.order] == [[1, 3], [2, 0], [4]]
    batches.on_epoch_end()
    assert [b.tolist() for b in batches.order] == [[1, 3], [2, 0], [4]]
    inputs, labels = batches[1]
    np.testing.assert_array_equal(inputs["token_ids"], [[5, 6, 0], [1, 2, 3]])
    np.testing.assert_array_equal(labels, [0, 0])


def test_array_inputs_and_unlabelled_batches() -> None:
    features = np.arange(12, dtype="float32").reshape(6, 2)
    batches = BucketedBatches({"token_ids": ragged(6), "features": features}, None, batch_size=4)
    (inputs,) = batches[0]
    rows = rows_of(inputs["token_ids"])
    np.testing.assert_array_equal(inputs["features"], features[rows])


def test_invalid_batch_size_and_padding_helper() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        BucketedBatches({"token_ids": [[1]]}, None, batch_size=0)
    np.testing.assert_array_equal(pad_sequences([[1, 2, 3], [4]]), [[1, 2, 3], [4, 0, 0]])
    np.testing.assert_array_equal(pad_sequences([[1, 2, 3], [4]], length=2), [[1, 2], [4, 0]])
