"""Tests for the masked attention layers in ``attnkit.layers``.

Padded positions hold random non-zero values on purpose: a layer that ignores its mask
would produce different results for a padded row and the same row truncated.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from keras import ops

from attnkit.layers import (
    AdditiveAttention,
    BidirectionalRNN,
    GlobalContextAttention,
    LowRankMultiHeadAttention,
    MaskedMeanPooling,
    MultiHeadSelfAttention,
    masked_mean,
    masked_softmax,
)

DIM = 6
TIME = 7
LENGTHS = (7, 4, 1)  # one full row, one half-padded row, one row with a single real token
QUERY_DIM = 2


def to_numpy(value) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(value))


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(1234)


def make_batch(dim: int = DIM) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs with random (non-zero) padding, their mask, and a query per row."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(len(LENGTHS), TIME, dim)).astype("float32")
    mask = np.arange(TIME)[None, :] < np.array(LENGTHS)[:, None]
    query = rng.normal(size=(len(LENGTHS), QUERY_DIM)).astype("float32")
    return inputs, mask, query


# --- the pooling heads: (pooled, weights) with weights over time --------------------------

POOLING = {
    "additive": lambda: AdditiveAttention(units=5),
    "additive-query": lambda: AdditiveAttention(units=5, use_query=True),
    "global-learned": lambda: GlobalContextAttention(units=5),
    "global-mean": lambda: GlobalContextAttention(units=5, context="mean"),
    "lama-learned": lambda: LowRankMultiHeadAttention(num_heads=3),
    "lama-mean": lambda: LowRankMultiHeadAttention(num_heads=3, context="mean"),
    "lama-learned-no-mlp": lambda: LowRankMultiHeadAttention(num_heads=3, token_mlp=False),
    "lama-mean-no-mlp": lambda: LowRankMultiHeadAttention(
        num_heads=3, context="mean", token_mlp=False
    ),
}


def is_lama(layer) -> bool:
    return isinstance(layer, LowRankMultiHeadAttention)


def pool(layer, inputs, mask=None, query=None, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Call a pooling head; weights come back as (batch, heads, time) (heads = 1 if none)."""
    if getattr(layer, "use_query", False):
        kwargs["query"] = query
    pooled, weights = layer(inputs, mask=mask, **kwargs)
    weights = to_numpy(weights)
    return to_numpy(pooled), weights.reshape(weights.shape[0], -1, weights.shape[-1])


def perturbation_at(layer, position: int, size: float = 50.0) -> np.ndarray:
    """A logits perturbation adding ``size`` at ``position`` for every row (and head)."""
    shape = (len(LENGTHS), layer.num_heads, TIME) if is_lama(layer) else (len(LENGTHS), TIME)
    perturbation = np.zeros(shape, dtype="float32")
    perturbation[..., position] = size
    return perturbation


@pytest.mark.parametrize("name", POOLING)
def test_pooling_output_shapes(name: str) -> None:
    layer = POOLING[name]()
    inputs, mask, query = make_batch()
    pooled, weights = layer(inputs, mask=mask, **({"query": query} if "query" in name else {}))
    if is_lama(layer):
        expected = ((3, 3 * DIM), (3, 3, TIME))
    else:
        expected = ((3, DIM), (3, TIME))
    assert (tuple(pooled.shape), tuple(weights.shape)) == expected
    shape_args = ((3, TIME, DIM), (3, QUERY_DIM)) if "query" in name else ((3, TIME, DIM),)
    assert tuple(map(tuple, layer.compute_output_shape(*shape_args))) == expected


@pytest.mark.parametrize("name", POOLING)
def test_pooling_weights_are_distributions_over_real_positions(name: str) -> None:
    layer = POOLING[name]()
    inputs, mask, query = make_batch()
    pooled, weights = pool(layer, inputs, mask, query)
    padding = np.broadcast_to(~mask[:, None, :], weights.shape)
    assert np.all(weights[padding] == 0.0)  # exactly zero, not just small
    assert np.all(weights >= 0.0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)
    # The pooled vector is the weighted sum of the inputs (head by head for LAMA).
    expected = np.einsum("bht,btd->bhd", weights, inputs).reshape(len(LENGTHS), -1)
    np.testing.assert_allclose(pooled, expected, atol=1e-5)


@pytest.mark.parametrize("name", POOLING)
def test_pooling_padded_row_equals_truncated_row(name: str) -> None:
    layer = POOLING[name]()
    inputs, mask, query = make_batch()
    pooled, weights = pool(layer, inputs, mask, query)
    for row, length in enumerate(LENGTHS):
        alone_pooled, alone_weights = pool(
            layer, inputs[row : row + 1, :length], None, query[row : row + 1]
        )
        np.testing.assert_allclose(pooled[row], alone_pooled[0], atol=1e-5)
        np.testing.assert_allclose(weights[row, :, :length], alone_weights[0], atol=1e-5)


@pytest.mark.parametrize("name", POOLING)
def test_pooling_ignores_padding_values(name: str) -> None:
    layer = POOLING[name]()
    inputs, mask, query = make_batch()
    changed = inputs.copy()
    changed[~mask] = 1e3
    np.testing.assert_allclose(
        pool(layer, inputs, mask, query)[0], pool(layer, changed, mask, query)[0], atol=1e-5
    )


@pytest.mark.parametrize("name", POOLING)
def test_logits_perturbation_concentrates_weight(name: str) -> None:
    layer = POOLING[name]()
    inputs, mask, query = make_batch()
    _, plain = pool(layer, inputs, mask, query)
    _, weights = pool(layer, inputs, mask, query, logits_perturbation=perturbation_at(layer, 2))
    # Rows 0 and 1 have a real token at position 2: nearly all weight goes there.
    assert np.all(weights[:2, :, 2] > 0.999)
    assert np.all(plain[:2, :, 2] < 0.9)
    # Row 2 has a single real token: a perturbation on padding must not leak weight to it.
    assert np.all(weights[2, :, 2] == 0.0)
    np.testing.assert_allclose(weights[2, :, 0], 1.0, atol=1e-6)
    # A negative perturbation removes (almost all) weight from a position.
    _, pushed_away = pool(
        layer, inputs, mask, query, logits_perturbation=perturbation_at(layer, 0, -50.0)
    )
    assert np.all(pushed_away[:2, :, 0] < 1e-6)


@pytest.mark.parametrize("name", POOLING)
def test_logits_hook_sees_and_replaces_logits(name: str) -> None:
    layer = POOLING[name]()
    inputs, mask, query = make_batch()
    seen = []

    def flatten_logits(logits, mask):
        seen.append((tuple(logits.shape), tuple(mask.shape)))
        return ops.zeros_like(logits)

    layer.logits_hook = flatten_logits
    _, weights = pool(layer, inputs, mask, query, logits_perturbation=perturbation_at(layer, 2))
    assert seen == (
        [((3, 3, TIME), (3, 1, TIME))] if is_lama(layer) else [((3, TIME), (3, TIME))]
    )
    # Constant logits -> uniform weight over each row's real tokens (the hook runs last).
    expected = mask / np.array(LENGTHS)[:, None]
    np.testing.assert_allclose(
        weights, np.broadcast_to(expected[:, None, :], weights.shape), atol=1e-6
    )

    boost = perturbation_at(layer, 3)
    layer.logits_hook = lambda logits, mask: logits + ops.convert_to_tensor(boost)
    _, weights = pool(layer, inputs, mask, query)
    assert np.all(weights[:2, :, 3] > 0.999)
    assert "logits_hook" not in layer.get_config()

    layer.logits_hook = None
    _, unhooked = pool(layer, inputs, mask, query)
    assert np.all(unhooked[:2, :, 3] < 0.9)


@pytest.mark.parametrize("name", POOLING)
def test_fully_masked_row_gives_zeros_not_nan(name: str) -> None:
    layer = POOLING[name]()
    inputs, mask, query = make_batch()
    mask = mask.copy()
    mask[1] = False
    pooled, weights = pool(layer, inputs, mask, query)
    assert np.all(np.isfinite(pooled)) and np.all(np.isfinite(weights))
    assert np.all(weights[1] == 0.0)
    assert np.all(pooled[1] == 0.0)
    np.testing.assert_allclose(weights[0].sum(axis=-1), 1.0, atol=1e-6)


def test_additive_attention_query_changes_weights() -> None:
    layer = AdditiveAttention(units=5, use_query=True)
    inputs, mask, query = make_batch()
    _, weights = pool(layer, inputs, mask, query)
    _, other = pool(layer, inputs, mask, query * 3.0 + 1.0)
    assert np.abs(weights[0] - other[0]).max() > 1e-3
    with pytest.raises(ValueError, match="query"):
        layer(inputs, mask=mask)


def test_additive_attention_without_query_input_fails_to_build() -> None:
    inputs, mask, _ = make_batch()
    with pytest.raises(ValueError, match="query"):
        AdditiveAttention(units=5, use_query=True)(inputs, mask=mask)


# --- masked_softmax / masked_mean ---------------------------------------------------------


def test_masked_softmax_zero_weight_on_padding_and_zero_rows() -> None:
    logits = np.array([[1.0, 2.0, 1e4], [3.0, -1.0, 0.5]], dtype="float32")
    mask = np.array([[True, True, False], [False, False, False]])
    weights = to_numpy(masked_softmax(logits, mask))
    np.testing.assert_allclose(
        weights[0, :2], np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum(), rtol=1e-6
    )
    assert weights[0, 2] == 0.0
    assert np.all(weights[1] == 0.0)
    np.testing.assert_allclose(
        to_numpy(masked_softmax(logits[1:])),
        np.exp(logits[1:]) / np.exp(logits[1:]).sum(),
        rtol=1e-6,
    )


def test_masked_softmax_float16_and_broadcast_mask() -> None:
    logits = np.zeros((2, 3, 4), dtype="float16")
    mask = np.array([[True, True, False, False], [False, False, False, False]])[:, None, :]
    weights = to_numpy(masked_softmax(logits, mask))
    assert weights.dtype == np.float16
    assert np.all(np.isfinite(weights))
    np.testing.assert_array_equal(weights[0], np.tile([0.5, 0.5, 0.0, 0.0], (3, 1)))
    assert np.all(weights[1] == 0.0)


def test_masked_mean_ignores_padding_and_handles_empty_rows() -> None:
    inputs, mask, _ = make_batch()
    mask = mask.copy()
    mask[2] = False
    mean = to_numpy(masked_mean(ops.convert_to_tensor(inputs), mask))
    np.testing.assert_allclose(mean[0], inputs[0].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(mean[1], inputs[1, :4].mean(axis=0), atol=1e-6)
    assert np.all(mean[2] == 0.0)


# --- MaskedMeanPooling ----------------------------------------------------------------------


def test_masked_mean_pooling() -> None:
    inputs, mask, _ = make_batch()
    layer = MaskedMeanPooling()
    pooled = to_numpy(layer(inputs, mask=mask))
    assert pooled.shape == (3, DIM)
    for row, length in enumerate(LENGTHS):
        np.testing.assert_allclose(pooled[row], inputs[row, :length].mean(axis=0), atol=1e-6)
        alone = to_numpy(layer(inputs[row : row + 1, :length]))
        np.testing.assert_allclose(pooled[row], alone[0], atol=1e-5)
    np.testing.assert_allclose(to_numpy(layer(inputs)), inputs.mean(axis=1), atol=1e-6)
    empty = to_numpy(layer(inputs, mask=np.zeros_like(mask)))
    assert np.all(empty == 0.0)


# --- MultiHeadSelfAttention -----------------------------------------------------------------


def test_mhsa_shapes_and_masked_scores() -> None:
    inputs, mask, _ = make_batch(dim=8)
    layer = MultiHeadSelfAttention(num_heads=2)
    sequence, scores = layer(inputs, mask=mask)
    sequence, scores = to_numpy(sequence), to_numpy(scores)
    assert sequence.shape == (3, TIME, 8)
    assert scores.shape == (3, 2, TIME, TIME)
    assert tuple(map(tuple, layer.compute_output_shape((3, TIME, 8)))) == (
        (3, TIME, 8),
        (3, 2, TIME, TIME),
    )
    key_padding = np.broadcast_to(~mask[:, None, None, :], scores.shape)
    query_padding = np.broadcast_to(~mask[:, None, :, None], scores.shape)
    assert np.all(scores[key_padding] == 0.0)
    assert np.all(scores[query_padding] == 0.0)
    sums = scores.sum(axis=-1)
    real_queries = np.broadcast_to(mask[:, None, :], sums.shape)
    np.testing.assert_allclose(sums[real_queries], 1.0, atol=1e-6)


def test_mhsa_padded_row_equals_truncated_row() -> None:
    inputs, mask, _ = make_batch(dim=8)
    layer = MultiHeadSelfAttention(num_heads=2)
    sequence, scores = map(to_numpy, layer(inputs, mask=mask))
    for row, length in enumerate(LENGTHS):
        alone_sequence, alone_scores = map(to_numpy, layer(inputs[row : row + 1, :length]))
        np.testing.assert_allclose(sequence[row, :length], alone_sequence[0], atol=1e-5)
        np.testing.assert_allclose(scores[row, :, :length, :length], alone_scores[0], atol=1e-5)


def test_mhsa_fully_masked_row_is_finite() -> None:
    inputs, mask, _ = make_batch(dim=8)
    mask = mask.copy()
    mask[0] = False
    sequence, scores = map(to_numpy, MultiHeadSelfAttention(num_heads=4)(inputs, mask=mask))
    assert np.all(np.isfinite(sequence)) and np.all(np.isfinite(scores))
    assert np.all(scores[0] == 0.0)


def test_mhsa_parameter_count_is_independent_of_heads() -> None:
    dim = 8
    counts = set()
    for heads in (1, 2, 4):
        layer = MultiHeadSelfAttention(num_heads=heads)
        layer.build((None, None, dim))
        counts.add(layer.count_params())
    # 4 d^2 + 4 d for W_Q, W_K, W_V, W_O plus 2 d for the layer norm.
    assert counts == {4 * dim * dim + 4 * dim + 2 * dim}


# --- BidirectionalRNN -----------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_birnn_shape_zero_padding_and_truncation_invariance(cell: str) -> None:
    inputs, mask, _ = make_batch()
    layer = BidirectionalRNN(units=3, cell=cell)
    output = to_numpy(layer(inputs, mask=mask))
    assert output.shape == (3, TIME, 6)
    assert tuple(layer.compute_output_shape((3, TIME, DIM))) == (3, TIME, 6)
    assert np.all(output[~mask] == 0.0)
    for row, length in enumerate(LENGTHS):
        alone = to_numpy(layer(inputs[row : row + 1, :length]))
        np.testing.assert_allclose(output[row, :length], alone[0], atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_birnn_matches_torch_bidirectional_rnn(cell: str) -> None:
    inputs, _, _ = make_batch()
    layer = BidirectionalRNN(units=3, cell=cell)
    output = to_numpy(layer(inputs))
    reference = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(
        DIM, 3, batch_first=True, bidirectional=True
    )
    with torch.no_grad():
        for suffix, weights in zip(("", "_reverse"), layer.directions, strict=True):
            for name, weight in zip(
                ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights, strict=True
            ):
                getattr(reference, f"{name}_l0{suffix}").copy_(torch.as_tensor(to_numpy(weight)))
        expected, _ = reference(torch.as_tensor(inputs))
    np.testing.assert_allclose(output, expected.numpy(), atol=1e-5)
    # LSTM starts with forget-gate bias 1 (torch gate order i, f, g, o); GRU with zeros.
    input_bias = to_numpy(layer.directions[0][2])
    if cell == "lstm":
        np.testing.assert_array_equal(input_bias[3:6], 1.0)
        np.testing.assert_array_equal(np.delete(input_bias, np.s_[3:6]), 0.0)
    else:
        np.testing.assert_array_equal(input_bias, 0.0)


def test_birnn_backward_direction_reads_the_future() -> None:
    inputs, _, _ = make_batch()
    layer = BidirectionalRNN(units=3, cell="gru")
    before = to_numpy(layer(inputs))
    changed = inputs.copy()
    changed[:, -1] += 1.0
    after = to_numpy(layer(changed))
    np.testing.assert_allclose(after[:, 0, :3], before[:, 0, :3], atol=1e-6)  # forward half
    assert np.abs(after[:, 0, 3:] - before[:, 0, 3:]).max() > 1e-4  # backward half


def test_birnn_fully_masked_row_is_zero() -> None:
    inputs, mask, _ = make_batch()
    mask = mask.copy()
    mask[1] = False
    output = to_numpy(BidirectionalRNN(units=3)(inputs, mask=mask))
    assert np.all(np.isfinite(output))
    assert np.all(output[1] == 0.0)


# --- LAMA specifics -------------------------------------------------------------------------


@pytest.mark.parametrize("context", ["learned", "mean"])
@pytest.mark.parametrize("token_mlp", [True, False])
def test_lama_parameter_count(context: str, token_mlp: bool) -> None:
    dim, heads = 10, 4
    layer = LowRankMultiHeadAttention(num_heads=heads, context=context, token_mlp=token_mlp)
    layer.build((None, None, dim))
    expected = 2 * dim * heads
    if context == "learned":
        expected += dim
    if token_mlp:
        expected += dim * dim + dim
    assert layer.count_params() == expected


def test_lama_penalty_adds_the_frobenius_loss() -> None:
    inputs, mask, _ = make_batch()
    plain = LowRankMultiHeadAttention(num_heads=3)
    plain(inputs, mask=mask)
    assert plain.losses == []

    layer = LowRankMultiHeadAttention(num_heads=3, penalty=0.25)
    _, attention = layer(inputs, mask=mask)
    attention = to_numpy(attention)
    gram = attention @ attention.transpose(0, 2, 1)
    expected = 0.25 * np.mean(((gram - np.eye(3)) ** 2).sum(axis=(1, 2)))
    assert len(layer.losses) == 1
    np.testing.assert_allclose(to_numpy(layer.losses[0]), expected, rtol=1e-5)
    assert expected > 0


def test_lama_penalty_loss_reaches_the_model() -> None:
    token_ids = keras.Input((None,), dtype="int32")
    hidden = keras.layers.Embedding(20, DIM)(token_ids)
    flat, _ = LowRankMultiHeadAttention(num_heads=2, penalty=1.0)(
        hidden, mask=ops.not_equal(token_ids, 0)
    )
    model = keras.Model(token_ids, keras.layers.Dense(2, activation="softmax")(flat))
    model(np.array([[3, 4, 5, 0]], dtype="int32"))
    assert len(model.losses) == 1
    assert to_numpy(model.losses[0]) > 0


@pytest.mark.parametrize("context", ["learned", "mean"])
@pytest.mark.parametrize("token_mlp", [True, False])
def test_lama_gradients_are_finite_at_zero_vectors(context: str, token_mlp: bool) -> None:
    """Zero input vectors (the BiRNN's output at padding) make every score zero: the
    normalisation's sqrt must not turn that into NaN gradients."""
    inputs, mask, _ = make_batch()
    inputs = inputs * mask[:, :, None]  # padding is exactly zero, as after BidirectionalRNN
    inputs[2] = 0.0  # and one row is zero throughout
    layer = LowRankMultiHeadAttention(num_heads=3, context=context, token_mlp=token_mlp)
    tensor = torch.tensor(inputs, requires_grad=True)
    flat, attention = layer(tensor, mask=mask)
    loss = (flat**2).sum() + (attention * torch.arange(TIME, dtype=torch.float32)).sum()
    loss.backward()
    assert torch.isfinite(tensor.grad).all()
    for variable in layer.trainable_weights:
        assert variable.value.grad is not None, variable.path
        assert torch.isfinite(variable.value.grad).all(), variable.path


def test_lama_trains_on_padded_data_with_finite_falling_loss() -> None:
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 7, size=32)
    token_ids = np.zeros((32, 12), dtype="int32")
    for row, length in enumerate(lengths):
        token_ids[row, :length] = rng.integers(2, 15, size=length)
    labels = (token_ids == 5).any(axis=1).astype("int32")

    ids = keras.Input((None,), dtype="int32")
    mask = ops.not_equal(ids, 0)
    hidden = BidirectionalRNN(units=4, cell="gru")(keras.layers.Embedding(15, 8)(ids), mask=mask)
    flat, _ = LowRankMultiHeadAttention(num_heads=2)(hidden, mask=mask)
    model = keras.Model(ids, keras.layers.Dense(2, activation="softmax")(flat))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")

    before = model.evaluate(token_ids, labels, verbose=0)
    losses = [float(model.train_on_batch(token_ids, labels)) for _ in range(3)]
    after = model.evaluate(token_ids, labels, verbose=0)
    assert np.all(np.isfinite([before, *losses, after]))
    assert after < before
    for variable in model.trainable_weights:
        assert np.all(np.isfinite(to_numpy(variable))), variable.path


# --- configs, saving, invalid arguments -----------------------------------------------------

CONFIGURED = {
    "additive": (
        lambda: AdditiveAttention(units=7, use_query=True, kernel_initializer="he_normal"),
        {"units": 7, "use_query": True},
    ),
    "global-context": (
        lambda: GlobalContextAttention(units=7, context="mean"),
        {"units": 7, "context": "mean"},
    ),
    "lama": (
        lambda: LowRankMultiHeadAttention(
            num_heads=5, context="mean", token_mlp=False, penalty=0.25
        ),
        {"num_heads": 5, "context": "mean", "token_mlp": False, "penalty": 0.25},
    ),
    "mhsa": (
        lambda: MultiHeadSelfAttention(num_heads=4, dropout=0.1),
        {"num_heads": 4, "dropout": 0.1},
    ),
    "mean-pooling": (lambda: MaskedMeanPooling(name="pool"), {"name": "pool"}),
    "birnn-gru": (lambda: BidirectionalRNN(units=7, cell="gru"), {"units": 7, "cell": "gru"}),
    "birnn-lstm": (lambda: BidirectionalRNN(units=2, cell="lstm"), {"units": 2, "cell": "lstm"}),
}


@pytest.mark.parametrize("name", CONFIGURED)
def test_get_config_round_trip(name: str) -> None:
    make, expected = CONFIGURED[name]
    layer = make()
    config = layer.get_config()
    assert {key: config[key] for key in expected} == expected
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    for key, value in expected.items():
        assert getattr(clone, key) == value
    if name == "additive":
        assert config["kernel_initializer"]["class_name"] == "HeNormal"
        assert isinstance(clone.kernel_initializer, keras.initializers.HeNormal)


SAVEABLE = {
    **POOLING,
    "mhsa": lambda: MultiHeadSelfAttention(num_heads=2),
    "mean-pooling": lambda: MaskedMeanPooling(),
    "birnn-lstm": lambda: BidirectionalRNN(units=3, cell="lstm"),
    "birnn-gru": lambda: BidirectionalRNN(units=3, cell="gru"),
}


@pytest.mark.parametrize("name", SAVEABLE)
def test_save_and_load_in_a_functional_model(name: str, tmp_path) -> None:
    dim = 8 if name == "mhsa" else DIM
    layer = SAVEABLE[name]()
    sequence = keras.Input((None, dim), name="sequence")
    mask = keras.Input((None,), dtype="bool", name="mask")
    inputs = {"sequence": sequence, "mask": mask}
    if getattr(layer, "use_query", False):
        query = keras.Input((QUERY_DIM,), name="query")
        inputs["query"] = query
        outputs = layer(sequence, query=query, mask=mask)
    else:
        outputs = layer(sequence, mask=mask)
    model = keras.Model(inputs, outputs)

    values, mask_values, query_values = make_batch(dim)
    feed = {"sequence": values, "mask": mask_values}
    if "query" in inputs:
        feed["query"] = query_values
    expected = model.predict(feed, verbose=0)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)  # registered classes need no custom_objects
    assert type(reloaded.get_layer(layer.name)) is type(layer)
    actual = reloaded.predict(feed, verbose=0)
    for got, want in zip(keras.tree.flatten(actual), keras.tree.flatten(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


INVALID = {
    "additive units=0": lambda: AdditiveAttention(units=0),
    "additive units<0": lambda: AdditiveAttention(units=-3),
    "global-context units=0": lambda: GlobalContextAttention(units=0),
    "global-context bad context": lambda: GlobalContextAttention(units=4, context="average"),
    "lama heads=0": lambda: LowRankMultiHeadAttention(num_heads=0),
    "lama bad context": lambda: LowRankMultiHeadAttention(num_heads=2, context="query"),
    "lama negative penalty": lambda: LowRankMultiHeadAttention(num_heads=2, penalty=-0.1),
    "mhsa heads=0": lambda: MultiHeadSelfAttention(num_heads=0),
    "mhsa dropout=1": lambda: MultiHeadSelfAttention(num_heads=2, dropout=1.0),
    "mhsa dim not divisible": lambda: MultiHeadSelfAttention(num_heads=3)(
        np.zeros((1, 2, 8), "float32")
    ),
    "birnn units=0": lambda: BidirectionalRNN(units=0),
    "birnn bad cell": lambda: BidirectionalRNN(units=4, cell="rnn"),
}


@pytest.mark.parametrize("name", INVALID)
def test_invalid_arguments_raise_value_error(name: str) -> None:
    with pytest.raises(ValueError):
        INVALID[name]()
