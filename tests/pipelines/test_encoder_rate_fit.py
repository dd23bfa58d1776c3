"""`attnkit fit` with ``training.encoder_learning_rate``: the pretrained table is fine-tuned at
its own rate (here tiny, so it stays near the file's vectors) and the run says so."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from attnkit.pipelines import cli
from attnkit.pipelines.tracking import load_model

pytestmark = [pytest.mark.usefixtures("mlflow_db"), pytest.mark.slow]


def test_fine_tuned_table_steps_at_the_encoder_rate(capsys, sample_dir: Path, tiny_overrides,
                                                     tmp_path: Path):
    rng = np.random.default_rng(0)
    vectors = {word: rng.normal(size=8).round(4) for word in ["the", "film", "gripping"]}
    path = tmp_path / "tiny.vec"
    path.write_text(f"{len(vectors)} 8\n" + "".join(
        f"{word} {' '.join(map(str, vector))}\n" for word, vector in vectors.items()))
    rate = 1e-6
    overrides = [*tiny_overrides, f"preprocess.word_vectors={path}",
                 "model.freeze_embeddings=false", f"training.encoder_learning_rate={rate}"]
    arguments = ["fit", "sample-lama", "--data", str(sample_dir), "--json"]
    code = cli.main([*arguments, *[p for o in overrides for p in ("--set", o)]])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "pretrained encoder fine-tuned at 1e-06 (1 weight tensor), the rest at 0.003" in out
    summary = json.loads(out.strip().splitlines()[-1])

    loaded = load_model(summary["model_uri"])
    table = keras.ops.convert_to_numpy(loaded.model.get_layer("embedding").embeddings)
    steps = 2 * -(-160 // 32)  # 2 epochs of 160 training sentences, batch 32
    tokenizer = loaded.preprocessor.tokenizer
    moved = [np.abs(table[tokenizer.token_to_id(word)] - vector).max()
             for word, vector in vectors.items()]
    # Adam moves a weight by at most about its rate per step: trained, but at the table's rate.
    assert 0 < max(moved) <= 1.01 * steps * rate + 1e-6
