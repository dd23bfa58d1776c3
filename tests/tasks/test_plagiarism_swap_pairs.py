"""``preprocess.swap_pairs``: the training pairs also appear with their two texts swapped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from attnkit.data.splits import DataSplit
from attnkit.errors import ConfigError
from attnkit.tasks.text_pairs import TextPairPreprocessor
from attnkit.tasks.text_pairs.model import LEXICAL_INPUT
from attnkit.tasks.text_pairs.task import TextPairTask

TEXTS_A = [f"the firm {verb} the deal" for verb in ("signed", "approved", "delayed")] * 12
TEXTS_B = [f"the firm {verb} a plan today" for verb in ("signed", "rejected", "delayed")] * 12
LABELS = ["1", "0", "1"] * 12


def split(name: str) -> DataSplit:
    frame = pl.DataFrame({"text_a": TEXTS_A, "text_b": TEXTS_B, "label": LABELS})
    return DataSplit(name, Path(f"{name}.tsv"), frame)


def fitted(swap_pairs: bool) -> TextPairPreprocessor:
    return TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, LABELS, min_frequency=1,
                                    lexical_features=True, word_bag_scores=True,
                                    swap_pairs=swap_pairs)  # fmt: skip


def all_examples(batches) -> tuple[dict[str, list], list[int]]:
    """Every (input, label) of ``batches``, keyed by its token ids so the order is irrelevant."""
    inputs: dict[str, list] = {"a": [], "b": [], "lexical": []}
    labels: list[int] = []
    for features, targets in (batches[i] for i in range(len(batches))):
        for row in range(len(targets)):
            inputs["a"].append(tuple(int(t) for t in features["token_ids_a"][row] if t))
            inputs["b"].append(tuple(int(t) for t in features["token_ids_b"][row] if t))
            inputs["lexical"].append(np.asarray(features[LEXICAL_INPUT][row]))
        labels += [int(t) for t in targets]
    return inputs, labels


def test_training_batches_hold_both_orders_with_their_own_features() -> None:
    task, pre = TextPairTask(), fitted(swap_pairs=True)
    inputs, labels = all_examples(task.batches(pre, split("train"), 8, True, seed=0))
    assert len(labels) == 2 * len(LABELS)
    pairs = list(zip(inputs["a"], inputs["b"], labels, strict=True))
    for a, b, label in pairs:  # every pair's swapped copy is there, with the same label
        assert (b, a, label) in pairs
    # The swapped copies' lexical counts are those of the swapped texts (precision <-> recall),
    # and their word-bag scores are out of fold over the swapped pairs alone (a pair's swapped
    # copy, with the same label, never scores it).
    swapped = pre.encode_lexical(TEXTS_B, TEXTS_A, LABELS)
    direct = pre.encode_lexical(TEXTS_A, TEXTS_B, LABELS)
    assert not np.allclose(swapped[:, :30], direct[:, :30])
    rows = {tuple(np.round(row, 5)) for row in inputs["lexical"]}
    assert rows == {tuple(np.round(row, 5)) for row in np.concatenate([direct, swapped])}


def test_dev_test_and_unlabelled_batches_are_not_swapped() -> None:
    task, pre = TextPairTask(), fitted(swap_pairs=True)
    for name in ("dev", "test"):
        assert sum(len(t) for _, t in task.batches(pre, split(name), 8, False, 0)) == len(LABELS)
    unlabelled = task.batches(pre, split("train"), 8, False, 0, labelled=False)
    assert sum(len(f["token_ids_a"]) for f, *_ in unlabelled) == len(LABELS)


def test_without_the_switch_training_batches_are_the_pairs_as_given() -> None:
    task, pre = TextPairTask(), fitted(swap_pairs=False)
    _, labels = all_examples(task.batches(pre, split("train"), 8, True, seed=0))
    assert len(labels) == len(LABELS)


def test_the_switch_is_saved_and_checked() -> None:
    pre = fitted(swap_pairs=True)
    assert TextPairPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict()))).swap_pairs
    saved = fitted(swap_pairs=False).to_dict()
    del saved["swap_pairs"]  # saved before the switch existed
    assert TextPairPreprocessor.from_dict(saved).swap_pairs is False
    with pytest.raises(ConfigError, match="preprocess.swap_pairs must be true or false"):
        TextPairPreprocessor.fit(TEXTS_A, TEXTS_B, LABELS, min_frequency=1, swap_pairs="yes")
