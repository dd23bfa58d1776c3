"""``attnkit fit`` with the attention-perturbation strategies, unlabelled data and the
interpretability metrics and plot logged with every run."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops
from mlflow import MlflowClient

from attnkit.data.splits import DataSplit
from attnkit.errors import DataError
from attnkit.pipelines import cli
from attnkit.pipelines.interpretability import agreement, gradient_importance, plot_example
from attnkit.pipelines.recipes import load_recipe
from attnkit.tasks.registry import get_task
from attnkit.tasks.text_classification.model import TextClassifier
from attnkit.training.attention_probe import probed_call

pytestmark = pytest.mark.usefixtures("mlflow_db")


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


def unlabelled_file(directory: Path) -> Path:
    path = directory / "unlabelled.txt"
    path.write_text("a wonderful moving film\nthe plot is dull\nsharp and funny\n" * 10)
    return path


@pytest.mark.parametrize("strategy", ["at", "ivat"])
def test_fit_with_a_strategy_logs_agreement_metrics_and_the_plot(
    strategy: str, capsys, sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    extra = ["--unlabelled", str(unlabelled_file(tmp_path))] if strategy == "ivat" else []
    overrides = [
        *tiny_overrides,
        "model.head=additive",
        f"training.strategy={strategy}",
        "strategy.epsilon=2.0",
    ]
    code = cli.main(
        ["fit", "sample-lama", "--data", str(sample_dir), *extra, "--json", *sets(overrides)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    for name in ("test_attention_gradient_pearson", "test_attention_gradient_kendall_tau",
                 "dev_attention_gradient_pearson", "dev_attention_gradient_kendall_tau"):
        assert -1.0 <= summary["metrics"][name] <= 1.0
    run = MlflowClient().get_run(summary["run_id"])
    assert run.data.params["training.strategy"] == strategy
    assert run.data.params["strategy.epsilon"] == "2.0"
    history = MlflowClient().get_metric_history(run.info.run_id, "train_loss")
    assert len(history) == 2  # the real total loss, every epoch
    artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "interpretability")}
    assert artifacts == {"interpretability/example.png", "interpretability/dev.jsonl",
                         "interpretability/test.jsonl"}
    if strategy == "ivat":
        assert "unlabelled data" in out and "(30 inputs)" in out
    if strategy == "at":  # `attnkit explain` on the logged model reproduces fit's agreement
        output, plot = tmp_path / "explained.jsonl", tmp_path / "plot.png"
        code = cli.main(["explain", summary["model_uri"], "--data", str(sample_dir / "test.tsv"),
                         "--output", str(output), "--plot", str(plot), "--json"])
        agreement_json = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert code == 0
        for name, value in agreement_json.items():
            assert value == pytest.approx(summary["metrics"][f"test_{name}"], abs=1e-5)
        rows = [json.loads(line) for line in output.read_text().splitlines()]
        assert len(rows) == 20
        assert len(rows[0]["tokens"]) == len(rows[0]["attention"]) == len(
            rows[0]["gradient_importance"])
        assert sum(rows[0]["attention"]) == pytest.approx(1.0, abs=1e-4)
        assert plot.read_bytes()[:4] == b"\x89PNG"


def test_unlabelled_data_with_a_supervised_strategy_is_refused(
    capsys, sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    code = cli.main(
        [
            "fit",
            "sample-lama",
            "--data",
            str(sample_dir),
            "--unlabelled",
            str(unlabelled_file(tmp_path)),
            *sets([*tiny_overrides, "training.strategy=at", "model.head=additive"]),
        ]
    )
    assert code == 2
    assert "does not use unlabelled data" in capsys.readouterr().err


def test_a_strategy_on_a_model_without_a_hook_fails_before_any_run(
    capsys, sample_dir: Path, tiny_overrides
) -> None:
    code = cli.main(
        [
            "fit",
            "sample-lama",
            "--data",
            str(sample_dir),
            *sets([*tiny_overrides, "training.strategy=vat", "model.head=mhsa"]),
        ]
    )
    assert code == 2
    assert "no attention layer with a logits hook" in capsys.readouterr().err
    experiments = [e.experiment_id for e in MlflowClient().search_experiments()]
    assert not experiments or MlflowClient().search_runs(experiments) == []


@pytest.fixture
def float64():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")  # a finite difference needs more than float32's digits
    yield
    keras.config.set_dtype_policy(policy)


@pytest.mark.usefixtures("float64")
def test_gradient_importance_matches_a_finite_difference_with_attention_held_fixed() -> None:
    keras.utils.set_random_seed(0)
    model = TextClassifier(
        vocabulary_size=20, num_classes=2, embedding_dim=6, units=4, attention_units=4, dropout=0.0
    )
    tokens = np.array([[3, 7, 11, 5, 0]], dtype="int32")  # distinct ids, one padding
    x = {"token_ids": tokens}
    importance = gradient_importance(model, x)[0]
    assert importance[4] == 0.0

    probabilities, sites = probed_call(model, x)
    chosen = int(np.argmax(ops.convert_to_numpy(probabilities)[0]))
    frozen_logits = ops.stop_gradient(sites[0].logits)
    embedding = model.get_layer("embedding").embeddings
    original = ops.convert_to_numpy(embedding).copy()
    step = 1e-3
    for position in range(4):
        scaled = original.copy()
        scaled[tokens[0, position]] *= 1.0 + step
        embedding.assign(scaled)
        moved, _ = probed_call(model, x, lambda i, logits, mask: frozen_logits - logits)
        embedding.assign(original)
        change = (
            ops.convert_to_numpy(moved)[0, chosen] - ops.convert_to_numpy(probabilities)[0, chosen]
        )
        assert importance[position] == pytest.approx(abs(change) / step, rel=5e-3, abs=1e-9)


def test_agreement_of_known_vectors() -> None:
    a = [np.array([0.1, 0.2, 0.7]), np.array([0.5, 0.3, 0.2]), np.array([1.0])]
    same = agreement(a, [v * 3 for v in a])
    assert same == {
        "attention_gradient_pearson": pytest.approx(1.0),
        "attention_gradient_kendall_tau": pytest.approx(1.0),
    }
    reversed_ = agreement(a[:2], [-v for v in a[:2]])
    assert reversed_["attention_gradient_kendall_tau"] == pytest.approx(-1.0)


def test_plot_example_writes_a_png(tmp_path: Path) -> None:
    path = plot_example(
        ["a", "good", "film"],
        np.array([0.2, 0.5, 0.3]),
        np.array([0.01, 0.05, 0.02]),
        tmp_path / "example.png",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keep_labels_and_unlabelled_labels(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text(
        "a world story\tWorld\nmarkets rise\tBusiness\na goal\tSports\nnew chip\tSci/Tech\n" * 5
    )
    recipe = load_recipe("agnews2-bilstm-vat")
    data = {**recipe["data"], "train": "train.tsv", "test": "", "dev_fraction": 0.2}
    task = get_task("text_classification")
    splits = task.read_splits(tmp_path, data, seed=0)
    assert set(splits["train"].frame["label"]) <= {"World", "Business"}
    assert splits["train"].frame.height + splits["dev"].frame.height == 10
    extra = task.read_unlabelled(tmp_path / "train.tsv", data)
    assert extra.frame.height == 10 and extra.frame["label"].null_count() == 10
    assert isinstance(extra, DataSplit)
    with pytest.raises(DataError, match="not in the file"):
        task.read_splits(tmp_path, {**data, "keep_labels": ["World", "Wrold"]}, seed=0)
    with pytest.raises(DataError, match="no rows with a label in"):
        task.read_unlabelled(tmp_path / "train.tsv", {**data, "unlabelled_labels": ["Nope"]})
