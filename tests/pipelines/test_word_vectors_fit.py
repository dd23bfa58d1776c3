"""`attnkit fit` of a text classifier on pretrained word vectors (a fastText-style .vec file):
the table starts from the file, words only the file knows get ids, and the saved model
answers raw text."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import attnkit
from attnkit.pipelines import cli
from attnkit.pipelines.tracking import load_model

pytestmark = [pytest.mark.usefixtures("mlflow_db"), pytest.mark.slow]


def test_text_classifier_on_vec_file(capsys, sample_dir: Path, tiny_overrides, tmp_path: Path):
    rng = np.random.default_rng(0)
    vectors = {word: rng.normal(size=8).round(4) for word in
               ["the", "film", "gripping", "wonderful", "zyzzyva"]}
    path = tmp_path / "wiki.tiny.vec"
    path.write_text(f"{len(vectors)} 8\n" + "".join(
        f"{word} {' '.join(map(str, vector))}\n" for word, vector in vectors.items()))
    overrides = [*tiny_overrides, f"preprocess.word_vectors={path}",
                 "model.freeze_embeddings=true"]
    arguments = ["fit", "sample-lama", "--data", str(sample_dir), "--json"]
    code = cli.main([*arguments, *[p for o in overrides for p in ("--set", o)]])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"word vectors {path}: 5 of " in out
    summary = json.loads(out.strip().splitlines()[-1])

    loaded = load_model(summary["model_uri"])
    tokenizer = loaded.preprocessor.tokenizer
    table = keras.ops.convert_to_numpy(loaded.model.get_layer("embedding").embeddings)
    for word, vector in vectors.items():  # frozen: still the file's vectors after training
        np.testing.assert_allclose(table[tokenizer.token_to_id(word)], vector, rtol=1e-6)
    # Only the file has "zyzzyva": it comes after every training word.
    assert tokenizer.token_to_id("zyzzyva") == tokenizer.get_vocab_size() - 1
    answers = attnkit.predict(summary["model_uri"], ["the film is gripping .", "a zyzzyva film"])
    assert all(answer["label"] in ("negative", "positive") for answer in answers)
