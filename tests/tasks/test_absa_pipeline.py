"""The ABSA task end to end on generated data (one word decides each polarity): `attnkit fit`
of the shipped recipes, predict on raw sentences and aspects (term or span, with --explain),
predict and evaluate files, the served model's 4xx answers, PSS's per-round MLflow logs."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import attnkit
from attnkit.errors import AttnkitError
from attnkit.pipelines import cli
from attnkit.pipelines.recipes import load_recipe
from attnkit.tasks.absa.sample_data import make_sample_absa

pytestmark = [pytest.mark.usefixtures("mlflow_db"), pytest.mark.slow]

TINY = (
    'preprocess.pretrained=""',
    "model.embedding_dim=8",
    "model.freeze_embeddings=false",
    "training.epochs=2",
    "training.batch_size=16",
)
TNET = (*TINY, "model.units=4", "model.bert_layers=0")  # the recipes run 3 MiniLM layers
RECIPES = ("memnet", "tnet", "memnet-pss", "tnet-pss")


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


def fit_json(capsys, arguments: list[str]) -> dict:
    code = cli.main(["fit", *arguments, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def absa_dir(tmp_path: Path) -> Path:
    return make_sample_absa(tmp_path / "absa", size=150, seed=0)


def test_shipped_recipes_resolve():
    for name in RECIPES:
        recipe = load_recipe(f"semeval14-restaurants-{name}")
        assert recipe["task"] == "aspect_sentiment"
        assert recipe["preprocess"]["pretrained"] == "minilm"
        assert recipe["training"]["strategy"] == ("pss" if name.endswith("pss") else "standard")
    assert load_recipe("semeval14-restaurants-tnet-pss")["strategy"]["weight"] == 0.1
    assert load_recipe("semeval14-restaurants-tnet-pss")["strategy"]["extract_from"] == "train_pass"
    for name in ("tnet", "tnet-pss"):
        assert load_recipe(f"semeval14-restaurants-{name}")["model"]["bert_layers"] == 3
    assert load_recipe("semeval14-restaurants-memnet-pss")["strategy"]["weight"] == 1.0


def test_fit_predict_explain_evaluate(capsys, absa_dir: Path, tmp_path: Path):
    summary = fit_json(capsys, ["semeval14-restaurants-tnet", "--data", str(absa_dir),
                                *sets(TNET)])
    metrics = summary["metrics"]
    for name in ("test_accuracy", "test_macro_f1", "dev_accuracy"):
        assert 0.0 <= metrics[name] <= 1.0
    sentence = "the pizza was great and the service was awful"
    answers = attnkit.predict(summary["model_uri"], [
        {"sentence": sentence, "aspect": "pizza"},
        {"sentence": sentence, "aspect": [28, 35]},  # "service" by its span
    ], explain=True)
    assert [a["aspect"] for a in answers] == ["pizza", "service"]
    for answer in answers:
        assert sorted(answer["probabilities"]) == ["negative", "neutral", "positive"]
        assert answer["label"] in answer["probabilities"]
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        tokens = [token for token, _ in answer["attention"]]
        assert answer["aspect"] not in tokens and len(tokens) == 8  # the context words only
        assert sum(weight for _, weight in answer["attention"]) == pytest.approx(1.0, abs=1e-4)

    # The CLI on a file of raw inputs (term or span per line), JSON Lines out.
    raw = tmp_path / "raw.txt"
    raw.write_text(f"{sentence}\tpizza\n{sentence}\t28\t35\n")
    output = tmp_path / "answers.jsonl"
    assert cli.main(["predict", summary["model_uri"], "--input", str(raw), "--output",
                     str(output), "--explain"]) == 0
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert [w["probabilities"] for w in written] == [a["probabilities"] for a in answers]

    evaluated = attnkit.evaluate(summary["model_uri"], str(absa_dir / "test.seg"))
    assert evaluated["test_accuracy"] == pytest.approx(metrics["test_accuracy"])

    # Bad raw inputs: a clear message naming the record (the CLI exits 2).
    with pytest.raises(AttnkitError, match="record 0: aspect term 'wine' does not occur"):
        attnkit.predict(summary["model_uri"], [{"sentence": sentence, "aspect": "wine"}])
    with pytest.raises(AttnkitError, match="record 1: aspect offsets from=40 to=90 lie outside"):
        attnkit.predict(summary["model_uri"], [{"sentence": sentence, "aspect": "pizza"},
                                               {"sentence": sentence, "aspect": [40, 90]}])
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{sentence}\twine\n")
    assert cli.main(["predict", summary["model_uri"], "--input", str(bad)]) == 2
    assert f"{bad}, line 1: aspect term 'wine' does not occur" in capsys.readouterr().err


def test_served_model_answers_bad_requests_with_400(capsys, absa_dir: Path):
    import mlflow
    from mlflow.exceptions import MlflowException

    summary = fit_json(capsys, ["semeval14-restaurants-memnet", "--data", str(absa_dir),
                                *sets([*TINY, "training.epochs=1"])])
    served = mlflow.pyfunc.load_model(summary["model_uri"])
    good = served.predict(pd.DataFrame([{"sentence": "the wine was bland", "aspect": "wine"}]))
    assert set(good.columns) >= {"aspect", "label", "probability_positive"}
    for record, message in [
        ({"sentence": "the wine was bland", "aspect": "pasta"}, "does not occur"),
        ({"sentence": "the wine was bland", "aspect": ""}, "is empty"),
        ({"sentence": "   ", "aspect": "wine"}, "is empty"),
    ]:
        with pytest.raises(MlflowException, match=message) as caught:
            served.predict(pd.DataFrame([record]))
        assert caught.value.get_http_status_code() == 400


@pytest.mark.parametrize("model", ["memnet", "tnet"])
def test_pss_recipes_log_words_per_round(capsys, absa_dir: Path, model: str):
    overrides = [*(TNET if model == "tnet" else TINY), "strategy.rounds=2",
                 "strategy.round_epochs=2"]
    summary = fit_json(capsys, [f"semeval14-restaurants-{model}-pss", "--data", str(absa_dir),
                                *sets(overrides)])
    client = MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(summary["run_id"], "pss")}
    assert artifacts == {"pss/round_1.tsv", "pss/round_2.tsv", "pss/summary.json"}
    history = client.get_metric_history(summary["run_id"], "pss_round_active_words")
    assert [point.step for point in history] == [1, 2]
    path = client.download_artifacts(summary["run_id"], "pss/round_1.tsv")
    header, *lines = Path(path).read_text().splitlines()
    assert header == "row\tposition\ttoken\tkind\tentropy"
    assert lines and all(line.split("\t")[3] in ("active", "misleading") for line in lines)
    assert client.get_run(summary["run_id"]).data.metrics["train_attention_loss"] >= 0.0


def test_bad_training_file_exits_2_naming_file_and_line(capsys, tmp_path: Path):
    data = tmp_path / "bad"
    data.mkdir()
    (data / "train.seg").write_text("the $T$ was good\nfood\n1\nthe $T$ was bad\nfood\n5\n")
    code = cli.main(["fit", "semeval14-restaurants-memnet", "--data", str(data), *sets(TINY)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{data / 'train.seg'}, line 6: unknown polarity '5'" in err


def test_tnet_on_glove_format_word_vectors(capsys, absa_dir: Path, tmp_path: Path):
    """The paper's setting: word-level vectors from a GloVe text file, frozen in TNet."""
    from attnkit.pipelines.tracking import load_model

    rng = np.random.default_rng(0)
    words = ["the", "pizza", "was", "great", "awful", "service", "zebra"]
    vectors = {word: rng.normal(size=8).round(4) for word in words}
    glove = tmp_path / "glove.8d.txt"
    glove.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    overrides = [override for override in TNET if not override.startswith("model.freeze")]
    summary = fit_json(capsys, ["semeval14-restaurants-tnet", "--data", str(absa_dir),
                                *sets([*overrides, f"preprocess.word_vectors={glove}"])])
    loaded = load_model(summary["model_uri"])
    tokenizer = loaded.preprocessor.tokenizer
    assert tokenizer.token_to_id("zebra") is not None  # from the file, not the training text
    table = keras.ops.convert_to_numpy(loaded.model.get_layer("embedding").embeddings)
    for word in ("pizza", "zebra"):  # frozen (TNet's default): still the file's vectors
        np.testing.assert_allclose(table[tokenizer.token_to_id(word)], vectors[word], rtol=1e-6)
    assert np.all(table[0] == 0)
    glove.unlink()  # the logged model carries its table: serving needs no vector file
    answer = attnkit.predict(summary["model_uri"], [{"sentence": "the zebra was great",
                                                      "aspect": "zebra"}])[0]
    assert answer["aspect"] == "zebra"
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2 3\npizza 1 2\n")
    code = cli.main(["fit", "semeval14-restaurants-tnet", "--data", str(absa_dir),
                     *sets([*overrides, f"preprocess.word_vectors={bad}"])])
    assert code == 2
    assert f"{bad}, line 2: expected a word and 3 numbers" in capsys.readouterr().err
