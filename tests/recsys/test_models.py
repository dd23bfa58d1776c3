"""DARE / TWIN / DIN: the two-stage attention with fewer behaviours than K, training steps,
saving, and the whole-table scoring shortcut."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import torch
from keras import ops

from attnkit.recsys import retrieval
from attnkit.recsys.model import LongSequenceCTR
from attnkit.recsys.retrieval import field_scores, field_sum, masked_softmax_weights, top_k_weights

VARIANTS = {
    "dare": {"variant": "dare", "attention_item_dim": 4, "attention_category_dim": 4,
             "attention_time_dim": 2},
    "twin": {"variant": "twin"},
    "twin-projection": {"variant": "twin", "projection": True},
    "din": {"variant": "din", "use_time": False},
}


def tiny(config: dict, **overrides) -> LongSequenceCTR:
    keras.utils.set_random_seed(0)
    settings = {"item_dim": 8, "category_dim": 8, "time_dim": 4, "top_k": 3, "hidden_1": 16,
                "hidden_2": 8, "auxiliary_hidden": 16, **config, **overrides}
    return LongSequenceCTR(40, 6, max_length=12, **settings)


def batch(size: int = 64, seed: int = 0):
    """Clicks are items of the category the history is mostly about."""
    rng = np.random.default_rng(seed)
    length = rng.integers(1, 13, size)
    favourite = rng.integers(1, 6, size)
    items = np.zeros((size, 12), np.int64)
    for row in range(size):
        items[row, 12 - length[row]:] = favourite[row] * 5 + rng.integers(0, 5, length[row])
    label = rng.random(size) < 0.5
    target_category = np.where(label, favourite, (favourite % 5) + 1)
    inputs = {"history_items": items, "history_categories": np.where(items > 0, items // 5, 0),
              "item": target_category * 5 + rng.integers(0, 5, size),
              "category": target_category}
    return inputs, label.astype("float32")


def test_top_k_with_fewer_valid_behaviours_than_k() -> None:
    scores = ops.convert_to_tensor([[0.5, 9.0, 1.0, -2.0, 3.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    mask = ops.convert_to_tensor([[False, False, True, True, True], [False] * 5])
    weights, positions = top_k_weights(scores, mask, k=4)
    weights, positions = ops.convert_to_numpy(weights), ops.convert_to_numpy(positions)
    assert sorted(positions[0][:3].tolist()) == [2, 3, 4]  # the valid ones come first
    assert weights[0][3] == 0.0  # the retrieved padding gets nothing
    expected = np.exp([3.0, 1.0, -2.0]) / np.exp([3.0, 1.0, -2.0]).sum()
    np.testing.assert_allclose(weights[0][:3], expected, rtol=1e-6)
    np.testing.assert_array_equal(weights[1], np.zeros(4))  # no behaviours: h = 0, no NaN
    full = ops.convert_to_numpy(masked_softmax_weights(scores, mask))
    assert np.isfinite(full).all() and full[1].sum() == 0


@pytest.mark.parametrize("name", ["dare", "twin", "din"])
def test_short_histories_match_attention_over_all(name: str) -> None:
    """With at most K valid behaviours, top-K retrieval equals plain target attention."""
    inputs, _ = batch()
    for row in inputs["history_items"]:
        row[:-3] = 0  # at most 3 = K behaviours
    inputs["history_categories"] = np.where(inputs["history_items"] > 0,
                                            inputs["history_categories"], 0)
    searched = tiny(VARIANTS[name])
    everything = tiny(VARIANTS[name], top_k=0)
    everything.set_weights(searched.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(searched(inputs)),
                               ops.convert_to_numpy(everything(inputs)), rtol=1e-5, atol=1e-6)


def test_whole_table_scoring_equals_gathering(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    table = torch.tensor(rng.normal(size=(30, 5)), dtype=torch.float32, requires_grad=True)
    ids = torch.tensor(rng.integers(0, 30, (4, 7)))
    query = torch.tensor(rng.normal(size=(4, 5)), dtype=torch.float32)
    weights = torch.softmax(torch.tensor(rng.normal(size=(4, 7)), dtype=torch.float32), -1)
    results = []
    for rows_per_slot in (100, 0):  # whole table, then gather
        monkeypatch.setattr(retrieval, "TABLE_ROWS_PER_SLOT", rows_per_slot)
        scores, summed = field_scores(table, ids, query), field_sum(table, ids, weights)
        (grad,) = torch.autograd.grad((scores.sum() + summed.square().sum()), [table])
        results.append((scores.detach().numpy(), summed.detach().numpy(), grad.numpy()))
    for first, second in zip(*results, strict=True):
        np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_model_fits_a_few_steps_and_reloads(name: str, tmp_path: Path) -> None:
    model = tiny(VARIANTS[name])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy())
    inputs, labels = batch()
    losses = [model.train_on_batch(inputs, labels) for _ in range(25)]
    assert losses[-1] < 0.8 * losses[0]
    before = ops.convert_to_numpy(model.predict_on_batch(inputs))
    assert before.shape == (64,) and np.all((before > 0) & (before < 1))
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert restored.get_config() == model.get_config()
    np.testing.assert_array_equal(ops.convert_to_numpy(restored.predict_on_batch(inputs)), before)


def test_auxiliary_loss_is_added_while_training() -> None:
    inputs, labels = batch()
    with_aux, without = tiny(VARIANTS["dare"]), tiny(VARIANTS["dare"], auxiliary_loss=False)
    assert without.auxiliary_tower is None and with_aux.auxiliary_tower is not None
    for model in (with_aux, without):
        model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy())
    y = ops.convert_to_tensor(labels)
    main = with_aux.compute_loss(y=y, y_pred=with_aux(inputs, training=False), training=False)
    total = with_aux.compute_loss(y=y, y_pred=with_aux(inputs, training=True), training=True)
    assert float(total.detach()) > float(main.detach()) + 0.3  # the auxiliary two-class CE is about ln 2


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="only for variant='dare'"):
        tiny({"variant": "twin", "attention_item_dim": 4})
    with pytest.raises(ValueError, match="projection"):
        tiny({"variant": "dare", "projection": True})
    with pytest.raises(ValueError, match="variant must be one of"):
        tiny({"variant": "sim"})


def test_saved_model_predicts_the_same_in_a_fresh_process(tmp_path: Path) -> None:
    model = tiny(VARIANTS["dare"])
    inputs, _ = batch()
    np.savez(tmp_path / "inputs.npz", **inputs)
    np.save(tmp_path / "expected.npy", ops.convert_to_numpy(model.predict_on_batch(inputs)))
    model.save(tmp_path / "model.keras")
    script = (
        "import attnkit, keras, numpy as np\n"
        f"d = dict(np.load({str(tmp_path / 'inputs.npz')!r}))\n"
        f"m = keras.saving.load_model({str(tmp_path / 'model.keras')!r})\n"
        "out = keras.ops.convert_to_numpy(m.predict_on_batch(d))\n"
        f"assert (out == np.load({str(tmp_path / 'expected.npy')!r})).all()\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
