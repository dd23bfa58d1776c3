"""The text-pair task end to end: `attnkit fit` on tiny generated pairs (MSRP format), predict
on raw pairs and files, evaluate, the adversarial-attention strategy, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

import attnkit
from attnkit.errors import AttnkitError
from attnkit.pipelines import cli
from attnkit.pipelines.recipes import load_recipe
from attnkit.tasks.text_pairs.readers import read_msrp
from attnkit.tasks.text_pairs.sample_pairs import make_sample_pairs

pytestmark = pytest.mark.usefixtures("mlflow_db")

#: Make the MSRP recipes train in seconds on generated pairs, with no checkpoint needed.
TINY = (
    'preprocess.pretrained=""',
    "preprocess.min_frequency=1",
    "model.embedding_dim=8",
    "model.bert_layers=0",
    "model.sentence_features=false",
    "model.freeze_embeddings=false",
    "model.units=8",
    "model.attention_units=8",
    "model.hidden_units=8",
    "training.epochs=2",
)


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


@pytest.fixture
def pairs_dir(tmp_path: Path) -> Path:
    make_sample_pairs(tmp_path / "pairs", size=240, seed=0)
    return tmp_path / "pairs"


def fit_json(capsys, arguments: list[str]) -> dict:
    code = cli.main(["fit", *arguments, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out.strip().splitlines()[-1])


def test_sample_pairs_are_msrp_files(pairs_dir: Path) -> None:
    train = read_msrp(pairs_dir / "train.txt")
    assert train.height == 192 and set(train["label"]) == {"0", "1"}
    assert 0.55 < (train["label"] == "1").mean() < 0.8  # imbalanced like MSRP
    assert read_msrp(pairs_dir / "test.txt").height == 24


def test_shipped_recipes_resolve() -> None:
    with_de = load_recipe("msrp-plagiarism")
    without = load_recipe("msrp-plagiarism-noDE")
    assert with_de["training"]["strategy"] == "de-init"
    assert without["training"]["strategy"] == "standard"
    assert with_de["model"] == without["model"]
    assert with_de["training"]["loss"] == "focal"


def test_fit_predict_evaluate_on_generated_pairs(capsys, pairs_dir: Path, tmp_path: Path) -> None:
    summary = fit_json(capsys, ["msrp-plagiarism-noDE", "--data", str(pairs_dir), *sets(TINY)])
    metrics = summary["metrics"]
    for name in ("test_accuracy", "test_f1", "test_precision", "test_recall", "dev_accuracy"):
        assert 0.0 <= metrics[name] <= 1.0
    run = MlflowClient().get_run(summary["run_id"])
    assert run.data.params["task"] == "text_pair_classification"
    assert run.data.params["training.loss"] == "focal"

    answers = attnkit.predict(summary["model_uri"], [
        {"text_a": "the court approved the budget .", "text_b": "the judges backed the budget ."},
        ("the bank delayed the strike .", "the union rejected a new tax ."),
    ], explain=True)
    assert [sorted(answer["probabilities"]) for answer in answers] == [["0", "1"], ["0", "1"]]
    for answer in answers:
        assert answer["label"] in ("0", "1")
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert [token for token, _ in answer["attention"]["text_a"]][:2] == (
            ["the", "court"] if answer is answers[0] else ["the", "bank"])

    # The same model through the CLI: a file of raw pairs in, JSON Lines out.
    raw = tmp_path / "raw.txt"
    raw.write_text("the court approved the budget .\tthe judges backed the budget .\n")
    output = tmp_path / "answers.jsonl"
    assert cli.main(["predict", summary["model_uri"], "--input", str(raw), "--output",
                     str(output)]) == 0
    written = json.loads(output.read_text().splitlines()[0])
    assert written["probabilities"] == answers[0]["probabilities"]

    evaluated = attnkit.evaluate(summary["model_uri"], str(pairs_dir / "test.txt"))
    assert evaluated["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert evaluated["test_f1"] == pytest.approx(metrics["test_f1"])


def test_cross_entropy_siamese_and_lexical_features_through_set(capsys, pairs_dir: Path) -> None:
    summary = fit_json(capsys, ["msrp-plagiarism-noDE", "--data", str(pairs_dir), *sets(
        [*TINY, "training.loss=cross_entropy", "model.interaction=siamese",
         "model.exact_match=false", "model.overlap_features=false", "training.epochs=1",
         "preprocess.lexical_features=true"])])
    params = MlflowClient().get_run(summary["run_id"]).data.params
    assert params["training.loss"] == "cross_entropy" and params["model.interaction"] == "siamese"
    assert params["preprocess.lexical_features"] == "True"
    # Raw pairs get their lexical features from the saved preprocessor.
    (answer,) = attnkit.predict(summary["model_uri"], [("the court approved it", "judges did")])
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_word_bag_scores_through_set_reach_raw_pairs(capsys, pairs_dir: Path) -> None:
    summary = fit_json(capsys, ["msrp-plagiarism-noDE", "--data", str(pairs_dir), *sets(
        [*TINY, "training.epochs=1", "preprocess.lexical_features=false",
         "preprocess.word_bag_scores=true", "preprocess.word_bag_c=0.5"])])
    params = MlflowClient().get_run(summary["run_id"]).data.params
    assert params["preprocess.word_bag_scores"] == "True"
    loaded = attnkit.load_model(summary["model_uri"])
    assert loaded.preprocessor.word_bag_c == 0.5 and loaded.model.lexical_features == 1
    # Raw pairs are scored by the saved word-bag weights.
    (answer,) = attnkit.predict(summary["model_uri"], [("the court approved it", "judges did")])
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_swap_pairs_through_set_reach_the_saved_preprocessor(capsys, pairs_dir: Path) -> None:
    summary = fit_json(capsys, ["msrp-plagiarism-noDE", "--data", str(pairs_dir), *sets(
        [*TINY, "training.epochs=1", "preprocess.swap_pairs=true"])])
    params = MlflowClient().get_run(summary["run_id"]).data.params
    assert params["preprocess.swap_pairs"] == "True"
    assert attnkit.load_model(summary["model_uri"]).preprocessor.swap_pairs
    (answer,) = attnkit.predict(summary["model_uri"], [("the court approved it", "judges did")])
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_de_recipe_with_adversarial_attention_alternative(capsys, pairs_dir: Path) -> None:
    with_de = fit_json(capsys, ["msrp-plagiarism", "--data", str(pairs_dir), *sets(
        [*TINY, "strategy.population=5", "strategy.generations=2", "strategy.fitness_examples=32",
         "training.epochs=1"])])
    metrics = MlflowClient().get_run(with_de["run_id"]).data.metrics
    assert "de_seconds" in metrics
    # the recipe reports the DE individual's loss on training pairs the fitness did not see
    assert load_recipe("msrp-plagiarism")["strategy"]["holdout_examples"] > 0
    assert metrics["de_holdout_initial"] > 0 and metrics["de_holdout_final"] > 0
    # The pair model's attention is hookable: attention AT trains it (two sites, one per text).
    adversarial = fit_json(capsys, ["msrp-plagiarism-noDE", "--data", str(pairs_dir), *sets(
        [*TINY, "training.strategy=at", "strategy.epsilon=0.5", "training.epochs=1"])])
    history = MlflowClient().get_metric_history(adversarial["run_id"], "train_adversarial_loss")
    assert len(history) == 1 and history[0].value > 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1\t1\t2\ta\tb\n1\t1\t2\tonly a source\n", "line 2: expected 5 tab-separated fields"),
        ("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n3\t1\t2\ta\tb\n",
         "line 2, field 'Quality': expected 0 or 1, found '3'"),
    ],
)
def test_bad_training_files_exit_2_naming_file_and_line(
    capsys, tmp_path: Path, content: str, message: str
) -> None:
    data = tmp_path / "bad"
    data.mkdir()
    (data / "train.txt").write_text(content)
    code = cli.main(["fit", "msrp-plagiarism-noDE", "--data", str(data), *sets(TINY)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(data / "train.txt") in err and message in err


def test_bad_training_settings_exit_2(capsys, pairs_dir: Path) -> None:
    for override, message in [("training.loss=hinge", "training.loss must be one of"),
                              ("preprocess.positive_label=yes", "positive_label='yes'"),
                              ("preprocess.word_bag_c=0", "preprocess.word_bag_c must be > 0"),
                              ("model.sentence_features=yes",
                               "model.sentence_features must be true or false, got 'yes'"),
                              ("model.sentence_features=true",  # no checkpoint in TINY
                               "sentence_features needs")]:
        code = cli.main(["fit", "msrp-plagiarism-noDE", "--data", str(pairs_dir),
                         *sets([*TINY, override])])
        assert code == 2
        assert message in capsys.readouterr().err


def test_encoder_learning_rate_fine_tunes_the_table_at_its_own_rate(
    capsys, pairs_dir: Path
) -> None:
    common = ["fit", "msrp-plagiarism-noDE", "--data", str(pairs_dir)]
    summary = fit_json(capsys, common[1:] + sets([*TINY, "training.epochs=1",
                                                  "training.encoder_learning_rate=1e-4"]))
    params = MlflowClient().get_run(summary["run_id"]).data.params
    assert params["training.encoder_learning_rate"] == "0.0001"
    (answer,) = attnkit.predict(summary["model_uri"], [("the court approved it", "judges did")])
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    # A frozen table has nothing to fine-tune: a clear error, exit 2.
    code = cli.main([*common, *sets([*TINY, "model.freeze_embeddings=true",
                                     "training.encoder_learning_rate=1e-4"])])  # fmt: skip
    assert code == 2
    assert "set model.freeze_embeddings = false" in capsys.readouterr().err


def test_predict_refuses_bad_raw_pairs(capsys, pairs_dir: Path) -> None:
    summary = fit_json(capsys, ["msrp-plagiarism-noDE", "--data", str(pairs_dir),
                                *sets([*TINY, "training.epochs=1"])])
    with pytest.raises(AttnkitError, match="record 0: field 'text_b' must be a string"):
        attnkit.predict(summary["model_uri"], [{"text_a": "only one text"}])
