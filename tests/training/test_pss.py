"""PSS: attention entropy, word extraction and regulariser targets (the 0/0 fix), and the
strategy on a tiny generated set where one word decides the label: the extraction finds that
word, later rounds erase it, and the regulariser moves the attention toward it. Also the
gradient extraction (``extract_by = "gradient"``): its saliency and normalisation, and that it
finds the deciding word too."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import torch

from attnkit.errors import ConfigError
from attnkit.tasks.absa import AspectSentimentTask, MemNet, TNetATT
from attnkit.tasks.absa.sample_data import OPINIONS, sample_split
from attnkit.training import get_strategy
from attnkit.training.encoder_learning_rate import encoder_paths, encoder_rate_optimizer
from attnkit.training.pss import EXTRACTION_FILE, _RowTrainer
from attnkit.training.pss_extraction import (
    ExtractedWord,
    Extraction,
    attention_entropy,
    extract_words,
)
from attnkit.training.pss_saliency import gradient_saliency, normalise_saliency
from attnkit.training.strategies import FitContext

OPINION_WORDS = {word for words in OPINIONS.values() for word in words}


def test_entropy_in_bits_ignores_zero_weights():
    assert attention_entropy(np.full(16, 1 / 16)) == pytest.approx(4.0)
    assert attention_entropy(np.array([0.5, 0.5, 0.0, 0.0])) == pytest.approx(1.0)
    assert attention_entropy(np.array([1.0, 0.0])) == 0.0


def test_extraction_takes_the_peak_when_entropy_is_low():
    attention = [np.array([0.1, 0.8, 0.1]), np.full(32, 1 / 32), np.zeros(3),
                 np.array([0.7, 0.3, 0.0])]
    correct = np.array([True, True, True, False])
    words = extract_words(attention, correct, threshold=4.0, round_index=2, rows=[5, 6, 7, 8],
                          token_ids=[np.array([3, 4, 5])] * 2 + [np.array([3, 4, 5])] * 2)
    # row 6 is too flat (5 bits), row 7 has nothing left to attend to
    assert [(w.row, w.position, w.active, w.round_index, w.token_id) for w in words] == [
        (5, 1, True, 2, 4), (8, 0, False, 2, 3)]


def test_targets_normalise_active_words_and_never_divide_zero_by_zero():
    extraction = Extraction([
        ExtractedWord(0, 1, True, 0.5, 1), ExtractedWord(0, 3, True, 0.5, 2),
        ExtractedWord(0, 2, False, 0.5, 3),
        ExtractedWord(1, 0, False, 0.5, 1),  # only a misleading word: the PSS code's 0/0
    ])
    amask, avalue = extraction.targets(rows=3, length=4)
    np.testing.assert_array_equal(amask, [[0, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(avalue, [[0, 0.5, 0, 0.5], [0, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(extraction.erase_mask(3, 4), amask)
    assert extraction.summary() == {1: {"active": 1, "misleading": 1}, 2: {"active": 1, "misleading": 0},
                                    3: {"active": 0, "misleading": 1}}
    assert Extraction.from_json(extraction.to_json()) == extraction


@pytest.mark.parametrize(
    ("params", "message"),
    [({"extract_from": "test"}, "extract_from"), ({"rounds": -1}, "rounds"),
     ({"weight": -1.0}, "weight"), ({"entropy_threshold": 0.0}, "entropy_threshold"),
     ({"select_rounds": "yes"}, "select_rounds"), ({"round_select": "test"}, "round_select")],
)
def test_bad_settings(params, message):
    with pytest.raises(ConfigError, match=message):
        get_strategy("pss", params)


def test_refuses_models_without_attention():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ConfigError, match="exposes its attention"):
        get_strategy("pss", {}).prepare(model, AspectSentimentTask())


# --- the strategy on a generated set ------------------------------------------------------

@pytest.fixture
def setting(tmp_path):
    return make_setting(tmp_path)


def make_setting(tmp_path: Path):
    """The task, preprocessor, fit context and training batches of a generated set."""
    keras.utils.set_random_seed(1)
    task = AspectSentimentTask()

    train, dev = sample_split("train", 150, 0), sample_split("dev", 45, 1)
    preprocessor = task.fit_preprocessor(train, task.preprocess_defaults)
    recipe = {"training": {"epochs": 8, "patience": 3}}
    context = FitContext(task, preprocessor, recipe,
                         task.batches(preprocessor, dev, 64, False, 0, labelled=False),
                         task.labels(preprocessor, dev), "dev_accuracy", "max", tmp_path / "ckpt")
    batches = task.batches(preprocessor, train, 16, True, 0)
    return task, preprocessor, context, batches, train


def build(preprocessor):
    keras.utils.set_random_seed(2)
    # two hops: with one, this MemNet learns "positive unless a negative or neutral word is
    # attended" and puts its attention elsewhere on positive instances
    return MemNet(vocabulary_size=preprocessor.vocabulary_size, num_classes=3, embedding_dim=16,
                  hops=2)


def run_strategy(setting, **params):
    task, preprocessor, context, batches, _ = setting
    model = build(preprocessor)
    strategy = get_strategy("pss", params)
    trainer = strategy.prepare(model, task)
    trainer.compile(optimizer=keras.optimizers.Adam(0.02), loss=task.loss())
    strategy.bind(context)
    initial = model.get_weights()
    strategy.initialize(model, trainer, batches)
    return strategy, model, trainer, initial


def test_extraction_finds_the_deciding_word_and_erases_it_later(setting):
    task, preprocessor, context, batches, train = setting
    strategy, model, _, initial = run_strategy(setting, rounds=2, weight=1.0)
    first = [w for w in strategy.extraction.words if w.round_index == 1]
    active = [w for w in first if w.active]
    assert len(active) >= 100  # most of the 150 instances are right and peaked
    found = [preprocessor.id_to_token(w.token_id) in OPINION_WORDS for w in active]
    assert np.mean(found) >= 0.9
    # round 2 ran with those words erased, so it never extracts the same position again
    second = {(w.row, w.position) for w in strategy.extraction.words if w.round_index == 2}
    assert second and not second & {(w.row, w.position) for w in first}
    # the final training starts from the initial weights, and its targets are saved
    for now, before in zip(model.get_weights(), initial, strict=True):
        np.testing.assert_array_equal(now, before)
    saved = json.loads((context.checkpoint_dir / EXTRACTION_FILE).read_text())
    assert saved["rows"] == 150 and len(saved["words"]) == len(strategy.extraction.words)


def test_select_rounds_trains_every_final_k_and_keeps_the_best_on_dev(setting, capsys):
    _, _, context, _, _ = setting
    strategy, model, trainer, initial = run_strategy(setting, rounds=2, weight=1.0,
                                                     select_rounds=True)
    out = capsys.readouterr().out
    scores = [float(line.split("dev_accuracy ")[1].split()[0])
              for line in out.splitlines() if "best dev_accuracy" in line]
    assert len(scores) == 3  # FINAL-0, FINAL-1, FINAL-2
    assert strategy.used_rounds == scores.index(max(scores))
    # the targets are those of rounds 1..used_rounds, and a resumed run keeps the choice
    rows, length = 150, trainer.targets[0].shape[1]
    expected, _ = strategy.extraction.up_to(strategy.used_rounds).targets(rows, length)
    np.testing.assert_array_equal(trainer.targets[0].numpy(), expected)
    saved = json.loads((context.checkpoint_dir / EXTRACTION_FILE).read_text())
    assert saved["used_rounds"] == strategy.used_rounds
    for now, before in zip(model.get_weights(), initial, strict=True):
        np.testing.assert_array_equal(now, before)
    resumed = get_strategy("pss", {"rounds": 2, "select_rounds": True})
    resumed_trainer = resumed.prepare(build(setting[1]), setting[0])
    resumed.bind(context)
    np.testing.assert_array_equal(resumed_trainer.targets[0].numpy(), expected)


def test_up_to_keeps_the_first_rounds_words():
    words = [ExtractedWord(0, 1, True, 0.5, 1), ExtractedWord(0, 2, False, 0.5, 2)]
    assert Extraction(words).up_to(1).words == words[:1]
    assert Extraction(words).up_to(0).words == []


def test_train_pass_extraction_also_finds_the_word(setting):
    _, preprocessor, _, _, _ = setting
    strategy, *_ = run_strategy(setting, rounds=1, extract_from="train_pass")
    active = [w for w in strategy.extraction.words if w.active]
    assert len(active) >= 60
    assert np.mean([preprocessor.id_to_token(w.token_id) in OPINION_WORDS for w in active]) >= 0.8


def kept_epochs(out: str) -> list[tuple[int, int, int]]:
    """Per round: (the epoch kept, the best-train-accuracy epoch, the best-dev epoch), each the
    first of its ties, from the strategy's progress lines."""
    rounds, epochs = [], []
    for line in out.splitlines():
        if " epoch " in line and "train accuracy" in line:
            epochs.append((float(line.split("train accuracy ")[1].split(",")[0]),
                           float(line.split("dev_accuracy ")[1])))
        elif "words extracted (epoch " in line:
            kept = int(line.split("(epoch ")[1].split(",")[0])
            train, dev = zip(*epochs, strict=True)
            rounds.append((kept, 1 + int(np.argmax(train)), 1 + int(np.argmax(dev))))
            epochs = []
    return rounds


@pytest.mark.parametrize("extract_from", ["train_pass", "inference"])
def test_round_select_train_accuracy_keeps_the_released_codes_epoch(setting, capsys, extract_from):
    """The released code extracts from the epoch with the best training accuracy; on this set
    that is a later epoch than the best on dev, which the default keeps."""
    run_strategy(setting, rounds=1, extract_from=extract_from, round_select="train_accuracy")
    [(kept, best_train, best_dev)] = kept_epochs(capsys.readouterr().out)
    assert kept == best_train != best_dev


def test_round_select_dev_keeps_the_best_dev_epoch(setting, capsys):
    _, preprocessor, _, _, _ = setting
    strategy, *_ = run_strategy(setting, rounds=1)
    out = capsys.readouterr().out
    dev = [float(line.split("dev_accuracy ")[1]) for line in out.splitlines() if " epoch " in line]
    kept = int(out.split("words extracted (epoch ")[1].split(",")[0])
    assert kept == 1 + int(np.argmax(dev))
    assert strategy._last_score == max(dev)


def opinion_attention(model, batches, preprocessor) -> float:
    """Mean attention on the opinion word over the training set."""
    opinion_ids = {preprocessor.tokenizer.token_to_id(word) for word in OPINION_WORDS}
    weights = []
    for index in range(len(batches)):
        x, _ = batches[index]
        attention = keras.ops.convert_to_numpy(model.with_attention(x)[1])
        on_opinion = np.isin(x["sentence_ids"], list(opinion_ids))
        weights.extend((attention * on_opinion).sum(axis=1))
    return float(np.mean(weights))


def test_regulariser_moves_attention_toward_the_extracted_word(setting):
    task, preprocessor, _, batches, train = setting
    # the targets: every instance's opinion word is its one active word
    encoded = task.encode(preprocessor, train)
    opinion_ids = {preprocessor.tokenizer.token_to_id(word) for word in OPINION_WORDS}
    words = [ExtractedWord(row, ids.index(next(i for i in ids if i in opinion_ids)), True, 0.0, 1)
             for row, ids in enumerate(encoded.sentence_ids)]
    amask, avalue = Extraction(words).targets(len(words), preprocessor.max_length)
    results = {}
    for weight in (0.0, 5.0):
        model = build(preprocessor)
        trainer = _RowTrainer(model, "pss_trainer")
        trainer.targets = (torch.as_tensor(amask), torch.as_tensor(avalue), weight)
        trainer.compile(optimizer=keras.optimizers.Adam(0.01), loss=task.loss())
        batches.epoch = 0
        trainer.fit(batches, epochs=3, verbose=0, shuffle=False)
        results[weight] = opinion_attention(model, batches, preprocessor)
    assert results[5.0] > results[0.0] + 0.1
    assert results[5.0] > 0.5


def test_extraction_rounds_step_a_fine_tuned_encoder_at_its_own_rate(setting):
    # Each round compiles a copy of the fit's optimizer: with training.encoder_learning_rate
    # the copy must keep the encoder's rate, or a fine-tuned BERT would step at the head's.
    task, preprocessor, _, batches, _ = setting
    model = build(preprocessor)
    strategy = get_strategy("pss", {"rounds": 1})
    trainer = strategy.prepare(model, task)
    encoder_rate = 1e-6
    trainer.compile(optimizer=encoder_rate_optimizer("adam", model, 0.02, encoder_rate),
                    loss=task.loss())
    strategy.bind(setting[2])
    tables = set(encoder_paths(model))
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}
    strategy._fit_fresh(model, batches, "pss_round_1", epochs=1, patience=0)
    change = {v.path: float(np.abs(keras.ops.convert_to_numpy(v) - before[v.path]).max())
              for v in model.trainable_variables}  # fmt: skip
    steps = len(batches)
    assert tables and all(0 < change[path] <= 1.01 * steps * encoder_rate for path in tables)
    assert max(change[path] for path in change if path not in tables) > 100 * steps * encoder_rate


def test_a_resumed_run_keeps_its_targets(setting):
    task, preprocessor, context, _, _ = setting
    context.checkpoint_dir.mkdir(parents=True)
    words = [ExtractedWord(3, 2, True, 0.1, 1).__dict__]
    (context.checkpoint_dir / EXTRACTION_FILE).write_text(json.dumps({"rows": 10, "words": words}))
    strategy = get_strategy("pss", {"weight": 0.7})
    trainer = strategy.prepare(build(preprocessor), task)
    strategy.bind(context)
    amask, avalue, weight = trainer.targets
    assert tuple(amask.shape) == (10, preprocessor.max_length) and weight == 0.7
    assert float(amask[3, 2]) == 1.0 and float(avalue[3, 2]) == 1.0 and float(amask.sum()) == 1.0


# --- gradient extraction (extract_by = "gradient") ----------------------------------------


def test_normalise_subtracts_the_minimum_and_keeps_only_the_context():
    saliency = np.array([[0.5, 2.0, 1.0, 9.0], [3.0, 3.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    context = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(normalise_saliency(saliency, context),
                               [[0, 0.75, 0.25, 0], [0.5, 0.5, 0, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize(("params", "message"), [
    ({"extract_by": "loss"}, "extract_by"),
    ({"extract_by": "gradient", "extract_from": "train_pass"}, "extract_from='inference'"),
    ({"extract_by": "gradient", "saliency_passes": 0}, "saliency_passes"),
    ({"extract_by": "gradient", "saliency_noise": -0.1}, "saliency_noise"),
])
def test_bad_gradient_settings(params, message):
    with pytest.raises(ConfigError, match=message):
        get_strategy("pss", params)


def tiny_tnet():
    keras.utils.set_random_seed(0)
    return TNetATT(vocabulary_size=20, num_classes=3, embedding_dim=8, units=4)


def tiny_batch():
    return {"sentence_ids": np.array([[3, 4, 5, 0], [6, 7, 8, 9]]),
            "aspect_ids": np.array([[4, 0], [8, 9]]),
            "context_mask": np.array([[1, 0, 1, 0], [1, 1, 0, 0]]),
            "positions": np.array([[1, 1, 3], [2, 3, 4]]), "row": np.array([0, 1])}


def test_saliency_without_noise_is_gradient_times_input_of_the_gold_log_probability():
    model, x, gold = tiny_tnet(), tiny_batch(), np.array([2, 0])
    saliency = gradient_saliency(model, x, gold, passes=3, noise=0.0)
    # by hand: the gradient of log p(gold) with respect to the sentence's embedded tokens
    table = model.get_layer("embedding")
    original = table.call
    captured = {}

    def call(ids):
        out = original(ids)
        if tuple(ids.shape) == (2, 4):
            out = out.detach().requires_grad_(True)
            captured["e"] = out
        return out

    table.call = call
    try:
        with torch.enable_grad():
            probabilities = model(x, training=False)
            score = torch.log(probabilities[torch.arange(2), torch.as_tensor(gold)]).sum()
            (gradient,) = torch.autograd.grad(score, [captured["e"]])
    finally:
        table.call = original
    expected = (gradient * captured["e"]).sum(-1).detach().numpy()
    np.testing.assert_allclose(saliency, expected, rtol=1e-4, atol=1e-6)
    assert saliency[0, 3] == 0.0  # padding embeds as zero


def test_noise_changes_each_pass_and_a_seeded_generator_repeats():
    model, x, gold = tiny_tnet(), tiny_batch(), np.array([2, 0])
    clean = gradient_saliency(model, x, gold, passes=1, noise=0.0)
    first = gradient_saliency(model, x, gold, passes=4, noise=0.5,
                              generator=torch.Generator().manual_seed(3))
    again = gradient_saliency(model, x, gold, passes=4, noise=0.5,
                              generator=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, clean)


def test_gradient_extraction_finds_the_deciding_word(tmp_path):
    setting = make_setting(tmp_path)
    preprocessor = setting[1]
    strategy, *_ = run_strategy(setting, rounds=1, extract_by="gradient", saliency_passes=3)
    active = [w for w in strategy.extraction.words if w.active]
    assert len(active) >= 60
    found = [preprocessor.id_to_token(w.token_id) in OPINION_WORDS for w in active]
    assert np.mean(found) >= 0.8
