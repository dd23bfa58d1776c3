"""The word-bag score of text pairs: the scorer, its out-of-fold logits and the preprocessor's
``word_bag_scores`` column."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attnkit.errors import ConfigError
from attnkit.tasks.text_pairs import TextPairPreprocessor
from attnkit.tasks.text_pairs.word_bags import WordBagScorer, bag_tokens, out_of_fold_scores

SUBJECTS = ["the firm", "the bank", "the court", "the union", "the minister", "the board"]
VERBS = ["approved", "rejected", "delayed", "signed"]
OBJECTS = ["the deal", "the plan", "the merger", "the budget"]


def negation_pairs(size: int, seed: int = 0) -> tuple[list[str], list[str], list[bool]]:
    """Pairs that share almost every word; they are paraphrases unless one text has "not"."""
    rng = np.random.default_rng(seed)
    texts_a, texts_b, positive = [], [], []
    for _ in range(size):
        sentence = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        subject, rest = sentence.split(" ", 2)[:2], sentence.split(" ", 2)[2]
        negated = bool(rng.random() < 0.4)
        other = f"{' '.join(subject)} not {rest}" if negated else f"{sentence} today"
        texts_a.append(sentence)
        texts_b.append(other)
        positive.append(not negated)
    return texts_a, texts_b, positive


def test_bag_tokens_mark_shared_and_unshared_words() -> None:
    assert bag_tokens("The cat sat.", "the cat ran") == {"s:the", "s:cat", "o:sat", "o:.", "o:ran"}
    assert bag_tokens("", "") == set()


def test_the_scorer_learns_which_unshared_word_decides() -> None:
    texts_a, texts_b, positive = negation_pairs(200)
    scorer = WordBagScorer.fit(texts_a, texts_b, positive)
    weights = dict(zip(scorer.vocabulary, scorer.bag_weights, strict=True))
    assert min(weights, key=weights.get) == "o:not"  # the most negative bag weight
    test_a, test_b, test_positive = negation_pairs(100, seed=1)
    scores = scorer.scores(test_a, test_b)
    assert scores.dtype == np.float32 and scores.shape == (100,)
    assert np.mean((scores > 0) == np.array(test_positive)) > 0.95
    # saved and loaded, it gives the same logits
    clone = WordBagScorer.from_dict(json.loads(json.dumps(scorer.to_dict())))
    np.testing.assert_array_equal(clone.scores(test_a, test_b), scores)


def test_out_of_fold_scores_do_not_see_their_own_labels() -> None:
    rng = np.random.default_rng(3)
    vocabulary = [f"w{i}" for i in range(400)]
    texts_a = [" ".join(rng.choice(vocabulary, 6)) for _ in range(200)]
    texts_b = [" ".join(rng.choice(vocabulary, 6)) for _ in range(200)]
    noise = list(rng.random(200) < 0.5)  # labels nothing can predict
    in_sample = WordBagScorer.fit(texts_a, texts_b, noise, c=100.0, min_count=1)
    fitted_accuracy = np.mean((in_sample.scores(texts_a, texts_b) > 0) == np.array(noise))
    held_out = out_of_fold_scores(texts_a, texts_b, noise, folds=5, c=100.0, min_count=1)
    held_out_accuracy = np.mean((held_out > 0) == np.array(noise))
    assert fitted_accuracy > 0.6  # the full fit memorises part of the noise ...
    assert held_out_accuracy < fitted_accuracy - 0.1  # ... out of fold it cannot
    np.testing.assert_array_equal(  # seeded folds: a resumed run gets the same scores
        out_of_fold_scores(texts_a, texts_b, noise, folds=5, c=100.0, min_count=1), held_out
    )


def test_bad_scorer_settings_and_data_are_refused() -> None:
    texts_a, texts_b, positive = negation_pairs(40)
    with pytest.raises(ConfigError, match="word_bag_c must be > 0"):
        WordBagScorer.fit(texts_a, texts_b, positive, c=0.0)
    with pytest.raises(ConfigError, match="both classes"):
        WordBagScorer.fit(texts_a, texts_b, [True] * 40)
    with pytest.raises(ConfigError, match="at least 10 training pairs of each class; the "
                                          "smaller class has 3"):  # fmt: skip
        out_of_fold_scores(texts_a[:10], texts_b[:10], [True] * 7 + [False] * 3)
    saved = WordBagScorer.fit(texts_a, texts_b, positive).to_dict()
    with pytest.raises(ConfigError, match="bag weights for"):
        WordBagScorer.from_dict({**saved, "bag_weights": saved["bag_weights"][:-1]})
    with pytest.raises(ConfigError, match="malformed"):
        WordBagScorer.from_dict({key: saved[key] for key in saved if key != "intercept"})


def test_the_preprocessor_adds_the_score_out_of_fold_for_training_pairs() -> None:
    texts_a, texts_b, positive = negation_pairs(120)
    labels = ["1" if p else "0" for p in positive]
    both = TextPairPreprocessor.fit(texts_a, texts_b, labels, min_frequency=1,
                                    lexical_features=True, word_bag_scores=True)  # fmt: skip
    only_bags = TextPairPreprocessor.fit(texts_a, texts_b, labels, min_frequency=1,
                                         word_bag_scores=True, word_bag_c=1.0)  # fmt: skip
    assert both.lexical_size == 31 and only_bags.lexical_size == 1
    training = both.encode_lexical(texts_a, texts_b, labels)
    other = both.encode_lexical(texts_a, texts_b)
    assert training.shape == other.shape == (120, 31) and training.dtype == np.float32
    np.testing.assert_array_equal(training[:, :30], other[:, :30])
    assert not np.allclose(training[:, 30], other[:, 30])  # out of fold vs the full scorer
    # the training pairs' (out-of-fold) scores are standardised
    assert abs(training[:, 30].mean()) < 1e-4 and training[:, 30].std() == pytest.approx(1, 1e-3)
    # the score separates the classes for pairs the scorer never saw
    new_a, new_b, new_positive = negation_pairs(60, seed=5)
    column = only_bags.encode_lexical(new_a, new_b)[:, 0]
    assert np.mean((column > np.median(column)) == np.array(new_positive)) > 0.8
    # saved and loaded (as a fit's bundle does), it gives the same features
    clone = TextPairPreprocessor.from_dict(json.loads(json.dumps(both.to_dict())))
    assert clone.word_bag_c == 0.1 and clone.lexical_size == 31
    np.testing.assert_array_equal(clone.encode_lexical(new_a, new_b),
                                  both.encode_lexical(new_a, new_b))  # fmt: skip
    np.testing.assert_array_equal(clone.encode_lexical(texts_a, texts_b, labels), training)


def test_without_the_switch_there_is_no_word_bag_column() -> None:
    texts_a, texts_b, positive = negation_pairs(40)
    labels = ["1" if p else "0" for p in positive]
    pre = TextPairPreprocessor.fit(texts_a, texts_b, labels, min_frequency=1)
    assert pre.word_bag is None and pre.to_dict()["word_bag"] is None
    with pytest.raises(ConfigError, match="word_bag_scores"):
        pre.encode_lexical(texts_a, texts_b)
    saved = pre.to_dict()
    del saved["word_bag"]  # saved before word-bag scores existed
    assert TextPairPreprocessor.from_dict(saved).lexical_size == 0
