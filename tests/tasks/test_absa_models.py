"""MemNet and TNet-ATT: shapes, attention over the context only, a few training steps lower
the loss, save and reload (also in a fresh process) with identical predictions; the small
layers (position weights, aspect query, CPT-AS) and the preprocessor's spans and windows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from attnkit.tasks.absa import AbsaPreprocessor, AspectSentimentTask, MemNet, TNetATT
from attnkit.tasks.absa.aspect_positions import AspectPositions
from attnkit.tasks.absa.aspect_query import AspectQuery
from attnkit.tasks.absa.preprocessor import window
from attnkit.tasks.absa.sample_data import sample_split

MODELS = {
    "memnet": lambda v: MemNet(vocabulary_size=v, num_classes=3, embedding_dim=8, hops=2),
    "memnet-separate": lambda v: MemNet(vocabulary_size=v, num_classes=3, embedding_dim=8,
                                        tables="separate"),
    "tnet": lambda v: TNetATT(vocabulary_size=v, num_classes=3, embedding_dim=8, units=4,
                              freeze_embeddings=False, dropout=0.0),
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(5)


@pytest.fixture(scope="module")
def problem():
    """A batch of generated examples (one word decides the polarity), as model inputs."""
    task = AspectSentimentTask()
    split = sample_split("train", 48, seed=0)
    preprocessor = task.fit_preprocessor(split, task.preprocess_defaults)
    batches = task.batches(preprocessor, split, 48, shuffle=False, seed=0)
    inputs, labels = batches[0]
    return preprocessor, inputs, labels


@pytest.mark.parametrize("name", sorted(MODELS))
def test_attention_covers_the_context_only(problem, name):
    preprocessor, inputs, _ = problem
    model = MODELS[name](preprocessor.vocabulary_size)
    probabilities, attention = model.with_attention(inputs)
    probabilities, attention = keras.ops.convert_to_numpy(probabilities), keras.ops.convert_to_numpy(attention)
    assert probabilities.shape == (48, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    context = inputs["context_mask"].astype(bool)
    assert np.all(attention[~context] == 0.0)  # aspect tokens and padding get no weight
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_few_steps_lower_the_loss(problem, name):
    preprocessor, inputs, labels = problem
    model = MODELS[name](preprocessor.vocabulary_size)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    before = float(model.evaluate(inputs, labels, verbose=0))
    for _ in range(15):
        model.train_on_batch(inputs, labels)
    assert float(model.evaluate(inputs, labels, verbose=0)) < before - 0.05


FRESH_PROCESS = """
import json, sys
import numpy as np
import attnkit, keras
inputs = dict(np.load(sys.argv[1]))
answers = {}
for path in sys.argv[2:]:
    model = keras.saving.load_model(path)
    probabilities, attention = model.with_attention(inputs)
    answers[path] = [keras.ops.convert_to_numpy(probabilities).tolist(),
                     keras.ops.convert_to_numpy(attention).tolist()]
print(json.dumps(answers))
"""


def test_saved_models_reload_with_identical_predictions(problem, tmp_path):
    preprocessor, inputs, labels = problem
    expected = {}
    for name, build in MODELS.items():
        model = build(preprocessor.vocabulary_size)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.train_on_batch(inputs, labels)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        expected[str(path)] = [keras.ops.convert_to_numpy(t) for t in model.with_attention(inputs)]
        reloaded = keras.saving.load_model(path)
        assert type(reloaded) is type(model) and reloaded.get_config() == model.get_config()
        np.testing.assert_array_equal(reloaded.predict(inputs, verbose=0),
                                      model.predict(inputs, verbose=0))
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "inputs.npz"), *expected],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    answers = json.loads(completed.stdout.strip().splitlines()[-1])
    for path, (probabilities, attention) in expected.items():
        np.testing.assert_allclose(np.array(answers[path][0], "float32"), probabilities, atol=1e-6)
        np.testing.assert_allclose(np.array(answers[path][1], "float32"), attention, atol=1e-6)


def test_erased_word_embeds_as_zero_and_gets_no_attention(problem):
    preprocessor, inputs, _ = problem
    model = MODELS["tnet"](preprocessor.vocabulary_size)
    erased = {key: np.array(value) for key, value in inputs.items()}
    position = int(np.argmax(erased["context_mask"][0]))
    erased["sentence_ids"][0, position] = 0
    erased["context_mask"][0, position] = 0
    attention = keras.ops.convert_to_numpy(model.with_attention(erased)[1])
    assert attention[0, position] == 0.0
    np.testing.assert_allclose(attention[0].sum(), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"tables": "three"}, "tables"), ({"hops": 0}, "hops"), ({"num_classes": 1}, "num_classes")],
)
def test_bad_memnet_arguments(overrides, message):
    with pytest.raises(ValueError, match=message):
        MemNet(**{"vocabulary_size": 10, "num_classes": 3, "embedding_dim": 4, **overrides})


def test_position_weights_follow_tnet():
    # aspect = tokens 2..3 of a 6-token sentence padded to 8; C = 4
    ids = np.ones((1, 8), "int32")
    mask, weights = AspectPositions(limit=4)(ids, np.array([[2, 3, 6]]))
    # left of the aspect: d = last - i (3, 2); from the aspect on: d = i - first (0..3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weights)[0],
                               [0.25, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask)[0], [1] * 6 + [0, 0])


def test_aspect_query_takes_last_forward_and_first_backward_state():
    states = np.arange(24, dtype="float32").reshape(1, 3, 8)  # 4 units per direction
    query = keras.ops.convert_to_numpy(AspectQuery()(states, np.array([[1, 1, 0]])))
    np.testing.assert_array_equal(query[0], [*states[0, 1, :4], *states[0, 0, 4:]])


def test_preprocessor_marks_aspect_tokens_and_windows_long_sentences():
    pre = AbsaPreprocessor.fit(["one two three four five six"], max_length=3)
    sentence = "one two three four five six"
    encoded = pre.encode([sentence], [sentence.index("five")], [sentence.index("five") + 4])
    assert encoded.tokens[0] == ["four", "five", "six"]
    assert encoded.context_mask[0] == [1, 0, 1]
    assert encoded.positions[0].tolist() == [1, 1, 3]
    assert window(10, 0, 0, 4) == (0, 4) and window(10, 9, 9, 4) == (6, 10)
    restored = AbsaPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert restored.encode([sentence], [0], [3]).sentence_ids == pre.encode([sentence], [0], [3]).sentence_ids


def _bert_tnet(vocabulary_size: int) -> TNetATT:
    """TNet-ATT over a tiny one-layer frozen BERT encoder (contextual embeddings)."""
    return TNetATT(vocabulary_size=vocabulary_size, num_classes=3, embedding_dim=8, units=4,
                   bert_layers=1, bert_heads=2, bert_intermediate_size=12, cls_id=1, sep_id=2)


def test_a_frozen_bert_keeps_its_outputs_on_disk_and_erased_sentences_apart(
    problem, tmp_path, write_hf_checkpoint
):
    preprocessor, inputs, _ = problem
    vocabulary = preprocessor.vocabulary_size
    write_hf_checkpoint(_bert_tnet(vocabulary).get_layer("bert"), tmp_path / "ckpt")
    preprocessor.tokenizer.save(str(tmp_path / "ckpt" / "tokenizer.json"))
    recipe = {"preprocess": {"pretrained": str(tmp_path / "ckpt")}, "model": {"bert_layers": 1}}
    task = AspectSentimentTask()
    first = _bert_tnet(vocabulary)
    task.initialize_model(first, preprocessor, recipe)  # ATTNKIT_HOME is tmp_path/.attnkit
    bert = first.get_layer("bert")
    assert bert._disk_cache is not None
    assert bert._disk_cache.parent == tmp_path / ".attnkit" / "cache" / "bert"
    expected = keras.ops.convert_to_numpy(first.with_attention(inputs)[0])
    seen = len(bert._cache)
    erased = {key: np.array(value) for key, value in inputs.items()}
    position = int(np.argmax(erased["context_mask"][0]))  # a context word of example 0
    erased["sentence_ids"][0, position] = 0
    erased["context_mask"][0, position] = 0
    expected_erased = keras.ops.convert_to_numpy(first.with_attention(erased)[0])
    assert len(bert._cache) == seen + 1  # the erased sentence gets an entry of its own
    assert not np.allclose(expected_erased[0], expected[0], atol=1e-7)

    second = _bert_tnet(vocabulary)
    second.set_weights(first.get_weights())
    task.initialize_model(second, preprocessor, recipe)
    reloaded = second.get_layer("bert")
    assert len(reloaded._cache) == seen + 1  # read from the folder before any call
    reloaded._encode = None  # every sentence must now come from the disk cache
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(second.with_attention(inputs)[0]),
                                  expected)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(second.with_attention(erased)[0]),
                                  expected_erased)

    third = _bert_tnet(vocabulary)
    task.initialize_model(third, preprocessor, {**recipe, "training": {"bert_disk_cache": False}})
    assert third.get_layer("bert")._disk_cache is None


def test_static_embeddings_sit_next_to_bert_and_come_from_its_checkpoint(
    problem, tmp_path, write_hf_checkpoint
):
    from attnkit.data.pretrained import load_word_embeddings

    preprocessor, inputs, labels = problem
    vocabulary = preprocessor.vocabulary_size
    write_hf_checkpoint(_bert_tnet(vocabulary).get_layer("bert"), tmp_path / "ckpt")
    recipe = {"preprocess": {"pretrained": str(tmp_path / "ckpt")}, "model": {"bert_layers": 1}}
    model = TNetATT(vocabulary_size=vocabulary, num_classes=3, embedding_dim=8, units=4,
                    bert_layers=1, bert_heads=2, bert_intermediate_size=12, cls_id=1, sep_id=2,
                    static_embeddings=True)
    AspectSentimentTask().initialize_model(model, preprocessor, recipe)
    static = model.get_layer("static_embedding")
    assert not static.trainable
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(static.embeddings),
                                  load_word_embeddings(tmp_path / "ckpt"))
    # The BiLSTMs read [contextual; static]: twice the embedding size.
    assert model.get_layer("sentence_encoder").input[0].shape[-1] == 16
    probabilities, attention = model.with_attention(inputs)
    assert tuple(probabilities.shape) == (48, 3) and tuple(attention.shape)[0] == 48
    path = tmp_path / "static.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_config()["static_embeddings"] is True
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded.predict(inputs, verbose=0)),
                               keras.ops.convert_to_numpy(probabilities), atol=1e-6)
    with pytest.raises(ValueError, match="static_embeddings .* needs bert_layers > 0"):
        TNetATT(vocabulary_size=vocabulary, num_classes=3, static_embeddings=True)
