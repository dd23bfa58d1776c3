"""End-to-end tests of ``attnkit fit / predict / evaluate`` on tiny synthetic data.

Each fit trains a tiny model (``TINY_OVERRIDES`` in conftest) on 200 generated sentences.
A module-scoped fit is shared by the predict/evaluate tests; tests that need their own
MLflow state get a fresh copy of the migrated template DB (``mlflow_db``).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import attnkit
from attnkit.errors import ConfigError, DataError
from attnkit.pipelines import cli
from attnkit.pipelines.callbacks import CheckpointAndEarlyStop
from attnkit.pipelines.recipes import load_recipe, shipped_recipes
from attnkit.pipelines.sample_data import make_sample_data

pytestmark = pytest.mark.usefixtures("mlflow_db")

LABELS = ["negative", "positive"]
TEXTS = ["the film is wonderful .", "the script is not funny", "Honestly , THE ending feels dull ."]


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


# MLflow's own INFO logging (e.g. "Experiment with name 'attnkit' does not exist") may
# precede the error on stderr; nothing else may.
MLFLOW_LOG_LINE = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} INFO mlflow\.")


def error_line(capsys) -> str:
    """stderr's only line: the ``attnkit: error:`` message (no traceback, nothing else)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not MLFLOW_LOG_LINE.match(line)]
    assert len(lines) == 1, err
    assert lines[0].startswith("attnkit: error: "), err
    return lines[0]


def all_runs() -> list:
    client = MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments) if experiments else []


def all_logged_models() -> list:
    experiments = [e.experiment_id for e in MlflowClient().search_experiments()]
    return mlflow.search_logged_models(experiment_ids=experiments, output_format="list")


def checkpoint_dirs(home: Path) -> list[Path]:
    root = home / "checkpoints"
    return sorted(root.iterdir()) if root.is_dir() else []


# --- fit through the CLI ------------------------------------------------------------------


@pytest.mark.slow
def test_cli_fit_prints_a_json_summary_and_tracks_the_run(
    capsys, sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    code = cli.main(
        ["fit", "sample-lama", "--data", str(sample_dir), "--json", *sets(tiny_overrides)]
    )
    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary) == {"run_id", "model_uri", "metrics"}
    metrics = summary["metrics"]
    for name in ("dev_accuracy", "test_accuracy", "test_macro_f1", "test_auc", "test_loss"):
        assert name in metrics
    for name in ("dev_accuracy", "test_accuracy", "test_macro_f1", "test_auc"):
        assert 0.0 <= metrics[name] <= 1.0
    assert summary["model_uri"].startswith("models:/")

    run = mlflow.get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    params, tags = run.data.params, run.data.tags
    assert params["training.epochs"] == "2"
    assert params["model.units"] == "8"
    assert params["model.head"] == "lama"
    assert params["seed"] == "42" and tags["seed"] == "42"
    assert params["device"] == tags["device"] == attnkit.backend.device_description()
    assert params["train_examples"] == "160"
    assert tags["attnkit.recipe"] == "sample-lama"

    client = MlflowClient()
    for name in ("train_loss", "train_accuracy"):
        history = client.get_metric_history(summary["run_id"], name)
        assert sorted(m.step for m in history) == [0, 1], name
    # dev_*: one entry per epoch, then the kept model's value at step 2
    for name in ("dev_accuracy", "dev_loss", "dev_macro_f1", "dev_auc"):
        history = client.get_metric_history(summary["run_id"], name)
        assert sorted(m.step for m in history) == [0, 1, 2], name
    for name in ("test_accuracy", "test_macro_f1", "test_auc"):
        assert run.data.metrics[name] == pytest.approx(metrics[name])

    logged = tmp_path / "logged-recipe.toml"
    logged.write_text(mlflow.artifacts.load_text(f"runs:/{summary['run_id']}/recipe.toml"))
    assert load_recipe(str(logged)) == load_recipe("sample-lama", list(tiny_overrides))
    assert checkpoint_dirs(tmp_path / ".attnkit") == []  # removed after a finished run


# --- one trained model shared by the predict / evaluate tests ------------------------------


@dataclass
class Trained:
    directory: Path
    data: Path
    tracking_uri: str
    result: attnkit.pipelines.FitResult


@pytest.fixture(scope="module")
def trained(tmp_path_factory, new_mlflow_db, tiny_overrides) -> Trained:
    directory = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        uri = new_mlflow_db(directory)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("ATTNKIT_HOME", str(directory / ".attnkit"))
        patch.chdir(directory)
        make_sample_data(directory / "data", size=200, seed=0)
        result = attnkit.fit(
            "sample-lama", data=str(directory / "data"), overrides=list(tiny_overrides), verbose=0
        )
    return Trained(directory, directory / "data", uri, result)


@pytest.fixture
def model_uri(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared model's URI, with MLflow pointed at the DB it was logged to."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    return trained.result.model_uri


def test_python_fit_result(trained: Trained, model_uri: str) -> None:
    result = trained.result
    assert result.resumed_from_epoch is None
    assert mlflow.get_run(result.run_id).info.status == "FINISHED"
    assert json.loads(result.to_json())["model_uri"] == model_uri


def test_dev_accuracy_history_has_each_epoch_then_the_kept_model(
    trained: Trained, model_uri: str
) -> None:
    history = MlflowClient().get_metric_history(trained.result.run_id, "dev_accuracy")
    history = sorted(history, key=lambda m: m.step)
    assert [m.step for m in history] == [0, 1, 2]  # two epochs, then the final (best) model
    best_epoch = int(trained.result.metrics["best_epoch"]) - 1
    assert history[-1].value == pytest.approx(history[best_epoch].value, abs=1e-6)
    assert history[-1].value == pytest.approx(trained.result.metrics["dev_accuracy"], abs=1e-9)


def test_pyfunc_model_predicts_labels(model_uri: str) -> None:
    frame = mlflow.pyfunc.load_model(model_uri).predict(pd.DataFrame({"text": TEXTS}))
    assert len(frame) == len(TEXTS)
    assert set(frame["label"]) <= set(LABELS)
    probabilities = frame[[f"probability_{label}" for label in LABELS]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    picked = np.array(LABELS)[probabilities.argmax(axis=1)]
    assert list(frame["label"]) == list(picked)


def check_answer(answer: dict, text: str, explained: bool) -> None:
    assert answer["label"] in LABELS
    assert set(answer["probabilities"]) == set(LABELS)
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert answer["label"] == max(answer["probabilities"], key=answer["probabilities"].get)
    if not explained:
        assert "attention" not in answer
        return
    pairs = answer["attention"]
    assert [token for token, _ in pairs] == text.split()  # surface forms, original case
    weights = [weight for _, weight in pairs]
    assert all(weight >= 0 for weight in weights)
    assert sum(weights) == pytest.approx(1.0, abs=1e-4)


def test_cli_predict_writes_jsonl_with_explanations(capsys, model_uri: str, tmp_path: Path) -> None:
    source = tmp_path / "inputs.txt"
    source.write_text(TEXTS[0] + "\n\n" + "\n".join(TEXTS[1:]) + "\n", encoding="utf-8")
    target = tmp_path / "out" / "answers.jsonl"
    code = cli.main(
        ["predict", model_uri, "--input", str(source), "--output", str(target), "--explain"]
    )
    assert code == 0
    assert f"wrote {len(TEXTS)} predictions" in capsys.readouterr().err
    answers = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(answers) == len(TEXTS)  # the blank line is not an input
    for answer, text in zip(answers, TEXTS, strict=True):
        check_answer(answer, text, explained=True)

    # The Python API gives the same answers.
    assert attnkit.predict(model_uri, TEXTS, explain=True) == answers
    loaded = attnkit.load_model(model_uri)
    assert loaded.predict(TEXTS, explain=True) == answers
    assert loaded.predict([{"text": t} for t in TEXTS]) == [
        {k: v for k, v in a.items() if k != "attention"} for a in answers
    ]


def test_answers_follow_input_order(model_uri: str) -> None:
    # Longest first: batches are length-sorted, so a batch is not in input order.
    texts = [
        "in the end , the story is not dull from start to finish .",
        "the cast is sharp .",
        "at times , this movie looks clumsy and the music helps .",
        "weak .",
    ]
    loaded = attnkit.load_model(model_uri)
    together = loaded.predict(texts, explain=True)
    alone = [loaded.predict([text], explain=True)[0] for text in texts]
    for answer, single in zip(together, alone, strict=True):
        assert answer["probabilities"] == pytest.approx(single["probabilities"], abs=2e-6)
        assert [t for t, _ in answer["attention"]] == [t for t, _ in single["attention"]]
    assert len({json.dumps(a["probabilities"]) for a in together}) == len(texts)


def test_cli_predict_to_stdout(capsys, model_uri: str, tmp_path: Path) -> None:
    source = tmp_path / "inputs.txt"
    source.write_text("\n".join(TEXTS), encoding="utf-8")
    assert cli.main(["predict", model_uri, "--input", str(source)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    answers = [json.loads(line) for line in lines]
    assert len(answers) == len(TEXTS)
    for answer, text in zip(answers, TEXTS, strict=True):
        check_answer(answer, text, explained=False)
    assert [a["label"] for a in answers] == [a["label"] for a in attnkit.predict(model_uri, TEXTS)]


def test_cli_evaluate_matches_the_python_api_and_fit(
    capsys, trained: Trained, model_uri: str
) -> None:
    test_file = trained.data / "test.tsv"
    assert cli.main(["evaluate", model_uri, "--data", str(test_file), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(metrics) == {"test_accuracy", "test_macro_f1", "test_loss", "test_auc"}
    assert attnkit.evaluate(model_uri, str(test_file)) == pytest.approx(metrics)
    # The logged model is the one fit scored: same test metrics.
    fitted = {k: v for k, v in trained.result.metrics.items() if k in metrics}
    assert metrics == pytest.approx(fitted, abs=1e-6)
    assert "test_attention_gradient_pearson" in trained.result.metrics  # fit adds agreement

    assert cli.main(["evaluate", model_uri, "--data", str(test_file)]) == 0
    table = capsys.readouterr().out
    assert f"test_accuracy {metrics['test_accuracy']:.4f}" in " ".join(table.split())


def test_evaluate_a_data_folder_scores_every_split(trained: Trained, model_uri: str) -> None:
    metrics = attnkit.evaluate(model_uri, str(trained.data))
    assert {name.split("_")[0] for name in metrics} == {"train", "dev", "test"}
    fitted = trained.result.metrics
    assert metrics["dev_accuracy"] == pytest.approx(fitted["dev_accuracy"], abs=1e-6)


def test_load_model_from_a_local_bundle(model_uri: str, tmp_path: Path) -> None:
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=model_uri, dst_path=str(tmp_path / "m")
    )
    assert attnkit.load_model(local).predict(TEXTS) == attnkit.predict(model_uri, TEXTS)
    bundle = Path(local) / "artifacts" / "bundle"
    assert attnkit.load_model(str(bundle)).predict(TEXTS) == attnkit.predict(model_uri, TEXTS)


# --- bad input through the CLI ------------------------------------------------------------


def replace_line(path: Path, number: int, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = new
    path.write_bytes(b"\n".join(lines))


def break_input(case: str, data: Path) -> tuple[list[str], list[str]]:
    """Break ``data`` (or the command) for ``case``.

    Returns the ``fit`` arguments after the command name and the substrings the error
    line must contain.
    """
    recipe_and_data = ["sample-lama", "--data", str(data)]
    arguments, expected = _broken(case, data)
    if arguments[:1] == ["--data"]:
        return ["sample-lama", *arguments], expected
    if arguments[:1] == ["--recipe"]:
        return [arguments[1], "--data", str(data), *arguments[2:]], expected
    return [*recipe_and_data, *arguments], expected


def _broken(case: str, data: Path) -> tuple[list[str], list[str]]:
    if case == "missing data dir":
        return ["--data", str(data / "nope")], [str(data / "nope"), "not found"]
    if case == "empty train file":
        (data / "train.tsv").write_bytes(b"")
        return [], [str(data / "train.tsv"), "file is empty"]
    if case == "missing text column":
        replace_line(data / "train.tsv", 1, b"review\tlabel")
        return ["--set", "data.format=table"], [
            str(data / "train.tsv"),
            "line 1",
            "field 'text'",
            "missing column",
            "'review'",
        ]
    if case == "label unseen in train (test)":
        replace_line(data / "test.tsv", 5, b"the film is fine .\tneutral")
        return [], [str(data / "test.tsv"), "line 5", "field 'label'", "'neutral'"]
    if case == "label unseen in train (dev)":
        replace_line(data / "dev.tsv", 3, b"the film is fine .\tmixed")
        return [], [str(data / "dev.tsv"), "line 3", "field 'label'", "'mixed'"]
    if case == "undecodable bytes":
        replace_line(data / "dev.tsv", 4, b"the film is \xff\xfe good .\tpositive")
        return [], [str(data / "dev.tsv"), "line 4", "undecodable"]
    if case == "unknown recipe":
        return ["--recipe", "sample-lamma"], [
            "unknown recipe 'sample-lamma'",
            "Did you mean sample-lama",
        ]
    if case == "unknown --set key":
        return ["--set", "training.epoch=1"], ["unknown key 'training.epoch'", "training.epochs"]
    if case == "wrong --set type":
        return ["--set", "training.epochs=many"], ["training.epochs must be an integer"]
    if case == "invalid model setting":
        return ["--set", "model.head=bogus"], ["[model] settings rejected", "bogus"]
    if case == "unknown monitor":
        return ["--set", "training.monitor=dev_acc"], ["training.monitor", "dev_accuracy"]
    if case in ("word vectors of another size", "bad word-vector line"):
        vectors = data / "vectors.vec"
        vectors.write_text("2 3\nfilm 1 2 3\nplot 4 5 6\n" if case.startswith("word")
                           else "2 3\nfilm 1 2 3\nplot 4 5\n")
        expected = (["model.embedding_dim=8 does not match the word vectors", "(", ", 3)",
                     "set model.embedding_dim=3"] if case.startswith("word")
                    else [f"{vectors}, line 3", "expected a word and 3 numbers"])
        return ["--set", f"preprocess.word_vectors={vectors}"], expected
    raise AssertionError(case)


FIT_ERRORS = [
    "missing data dir",
    "empty train file",
    "missing text column",
    "label unseen in train (test)",
    "label unseen in train (dev)",
    "undecodable bytes",
    "unknown recipe",
    "unknown --set key",
    "wrong --set type",
    "invalid model setting",
    "unknown monitor",
    "word vectors of another size",
    "bad word-vector line",
]


@pytest.mark.parametrize("case", FIT_ERRORS)
def test_cli_fit_bad_input_exits_2_with_one_line(
    case: str, capsys, sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    arguments, expected = break_input(case, sample_dir)
    code = cli.main(["fit", *arguments, "--json", *sets(tiny_overrides)])
    line = error_line(capsys)
    assert code == 2
    for part in expected:
        assert part in line, (part, line)
    # Nothing was trained or logged, and no run was left behind.
    assert all_runs() == []
    assert checkpoint_dirs(tmp_path / ".attnkit") == []


def test_failed_fit_after_training_marks_the_run_failed(
    monkeypatch: pytest.MonkeyPatch, sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    def broken_logging(*args, **kwargs):
        raise RuntimeError("artifact store is full")

    # `attnkit.pipelines.fit` is the function; the module lives in sys.modules.
    monkeypatch.setattr(
        importlib.import_module("attnkit.pipelines.fit"), "log_attnkit_model", broken_logging
    )
    with pytest.raises(RuntimeError, match="artifact store is full"):
        cli.main(
            [
                "fit",
                "sample-lama",
                "--data",
                str(sample_dir),
                *sets([*tiny_overrides, "training.epochs=1"]),
            ]
        )
    runs = all_runs()
    assert len(runs) == 1
    assert runs[0].info.status == "FAILED"
    assert runs[0].data.tags["error"] == "RuntimeError: artifact store is full"
    assert all_logged_models() == []


def test_unknown_label_fails_before_any_run_or_model(
    capsys, sample_dir: Path, tiny_overrides
) -> None:
    replace_line(sample_dir / "test.tsv", 2, b"a film .\tneutral")
    assert cli.main(["fit", "sample-lama", "--data", str(sample_dir), *sets(tiny_overrides)]) == 2
    assert "test.tsv, line 2, field 'label'" in error_line(capsys)
    assert all_runs() == []
    assert all_logged_models() == []


def test_debug_reraises(sample_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown recipe"):
        cli.main(["--debug", "fit", "no-such-recipe", "--data", str(sample_dir)])
    with pytest.raises(DataError, match="not found"):
        cli.main(["--debug", "fit", "sample-lama", "--data", str(sample_dir / "missing")])


@pytest.mark.parametrize(
    "uri", ["models:/nope", "runs:/0123456789abcdef/model", "no-such-dir", "a-dir"]
)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_unknown_model_uri_exits_2(
    capsys, command: str, uri: str, sample_dir: Path, tmp_path: Path
) -> None:
    if uri == "a-dir":
        (tmp_path / "a-dir").mkdir()
        expected = "not an attnkit model"
    else:
        expected = uri
    source = tmp_path / "inputs.txt"
    source.write_text("a film\n", encoding="utf-8")
    option = (
        ["--input", str(source)]
        if command == "predict"
        else ["--data", str(sample_dir / "test.tsv")]
    )
    assert cli.main([command, uri, *option]) == 2
    line = error_line(capsys)
    assert uri in line and expected in line


def test_missing_predict_input_and_evaluate_data(capsys, model_uri: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    assert cli.main(["predict", model_uri, "--input", str(missing)]) == 2
    assert error_line(capsys) == f"attnkit: error: {missing}: file not found"
    assert cli.main(["evaluate", model_uri, "--data", str(tmp_path / "none.tsv")]) == 2
    assert str(tmp_path / "none.tsv") in error_line(capsys)


# --- resuming an interrupted fit -----------------------------------------------------------


@dataclass
class Resumed:
    interrupted_code: int
    interrupted_err: str
    runs_after_kill: list
    checkpoints_after_kill: list[Path]
    state_after_kill: dict
    result: attnkit.pipelines.FitResult
    checkpoints_after_resume: list[Path]
    status_after_resume: str
    history: dict[str, list]
    uninterrupted: attnkit.pipelines.FitResult
    uninterrupted_history: dict[str, list]


RESUME_OVERRIDES = ["training.epochs=3", "training.patience=5", "model.dropout=0.0"]


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, new_mlflow_db, tiny_overrides) -> Resumed:
    """Kill a 3-epoch fit right after its first checkpoint, then run the same fit again."""
    directory = tmp_path_factory.mktemp("resume")
    overrides = [*tiny_overrides, *RESUME_OVERRIDES]
    home = directory / ".attnkit"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", new_mlflow_db(directory))
        patch.setenv("ATTNKIT_HOME", str(home))
        patch.chdir(directory)
        make_sample_data(directory / "data", size=200, seed=0)
        arguments = ["fit", "sample-lama", "--data", str(directory / "data"), *sets(overrides)]

        original = CheckpointAndEarlyStop.on_epoch_end

        def interrupt_after_first_checkpoint(self, epoch, logs=None):
            original(self, epoch, logs)
            if epoch == 0:
                raise KeyboardInterrupt

        with pytest.MonkeyPatch.context() as kill:
            kill.setattr(CheckpointAndEarlyStop, "on_epoch_end", interrupt_after_first_checkpoint)
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(arguments)
        runs_after_kill = all_runs()
        checkpoints = checkpoint_dirs(home)
        state = json.loads((checkpoints[0] / "state.json").read_text()) if checkpoints else {}
        state["files"] = sorted(p.name for p in checkpoints[0].iterdir()) if checkpoints else []

        result = attnkit.fit(
            "sample-lama", data=str(directory / "data"), overrides=overrides, verbose=0
        )
        status = mlflow.get_run(result.run_id).info.status
        history = {
            name: MlflowClient().get_metric_history(result.run_id, name)
            for name in ("train_loss", "dev_accuracy")
        }
        after_resume = checkpoint_dirs(home)
        # The same fit, never interrupted, in another experiment (so another checkpoint key).
        uninterrupted = attnkit.fit(
            "sample-lama",
            data=str(directory / "data"),
            overrides=overrides,
            experiment="uninterrupted",
            verbose=0,
        )
        uninterrupted_history = {
            name: MlflowClient().get_metric_history(uninterrupted.run_id, name)
            for name in ("train_loss", "dev_loss")
        }
    return Resumed(
        code,
        err.getvalue(),
        runs_after_kill,
        checkpoints,
        state,
        result,
        after_resume,
        status,
        history,
        uninterrupted,
        uninterrupted_history,
    )


@pytest.mark.slow
def test_interrupted_fit_is_killed_and_keeps_its_checkpoint(resumed: Resumed) -> None:
    assert resumed.interrupted_code == 130
    assert "interrupted" in resumed.interrupted_err
    assert [run.info.status for run in resumed.runs_after_kill] == ["KILLED"]
    assert "interrupted" in resumed.runs_after_kill[0].data.tags["error"]
    assert len(resumed.checkpoints_after_kill) == 1
    checkpoint = resumed.checkpoints_after_kill[0]
    assert resumed.state_after_kill["epoch"] == 0
    assert resumed.state_after_kill["files"] == [
        ".lock",  # exclusive_run's lock file
        "best.weights.h5",
        "last.weights.h5",
        "preprocessor.json",
        "state.json",
    ]
    assert resumed.state_after_kill["run_id"] == resumed.runs_after_kill[0].info.run_id
    assert not checkpoint.exists()  # ...until the resumed run finished and removed it


@pytest.mark.slow
def test_rerun_resumes_the_same_run_to_completion(resumed: Resumed) -> None:
    killed = resumed.runs_after_kill[0]
    assert resumed.result.run_id == killed.info.run_id
    assert resumed.status_after_resume == "FINISHED"
    # One entry per epoch: epoch 0 from the killed attempt, 1 and 2 from the resumed one.
    assert sorted(m.step for m in resumed.history["train_loss"]) == [0, 1, 2]
    # dev_* histories end with the kept model's value, one step after the last epoch.
    assert sorted(m.step for m in resumed.history["dev_accuracy"]) == [0, 1, 2, 3]
    assert resumed.checkpoints_after_resume == []
    assert set(resumed.result.metrics) == set(resumed.uninterrupted.metrics)


@pytest.mark.slow
def test_resumed_training_matches_an_uninterrupted_run(resumed: Resumed) -> None:
    # Resuming restores weights, optimizer state and the (seed, epoch) batch order, and the
    # recipe has no dropout: the result must equal that of a run never interrupted.
    for name, value in resumed.uninterrupted.metrics.items():
        assert resumed.result.metrics[name] == pytest.approx(value, abs=1e-6), name
    # Epochs 1 and 2 ran after the resume: equal losses need the optimizer state restored.
    resumed_losses = {m.step: m.value for m in resumed.history["train_loss"]}
    for metric in resumed.uninterrupted_history["train_loss"]:
        assert resumed_losses[metric.step] == pytest.approx(metric.value, abs=1e-6), metric.step


@pytest.mark.slow
def test_resumed_fit_reports_the_epoch_it_resumed_from(resumed: Resumed) -> None:
    assert resumed.result.resumed_from_epoch == 0
    assert resumed.uninterrupted.resumed_from_epoch is None


# --- small commands -----------------------------------------------------------------------


def test_recipes_command_lists_shipped_recipes(capsys) -> None:
    assert cli.main(["recipes"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert listed == sorted(shipped_recipes())
    assert "sample-lama" in listed
    assert cli.main(["recipes", "--json"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)) == listed


def test_make_sample_rejects_a_tiny_size(capsys, tmp_path: Path) -> None:
    assert cli.main(["make-sample", str(tmp_path / "a"), "--size", "10"]) == 2
    assert "--size must be at least 30" in error_line(capsys)
    assert not (tmp_path / "a").exists()


def test_make_sample_writes_three_files(capsys, tmp_path: Path) -> None:
    assert cli.main(["make-sample", str(tmp_path / "a"), "--size", "60", "--seed", "1"]) == 0
    assert capsys.readouterr().out.count("wrote") == 3
    files = {p.name: p.read_text(encoding="utf-8").splitlines() for p in (tmp_path / "a").iterdir()}
    assert {name: len(lines) for name, lines in files.items()} == {
        "train.tsv": 49,
        "dev.tsv": 7,
        "test.tsv": 7,
    }
    for lines in files.values():
        assert lines[0] == "text\tlabel"
        assert {line.split("\t")[1] for line in lines[1:]} <= set(LABELS)
    cli.main(["make-sample", str(tmp_path / "b"), "--size", "60", "--seed", "1"])
    cli.main(["make-sample", str(tmp_path / "c"), "--size", "60", "--seed", "2"])
    train = "train.tsv"
    assert (tmp_path / "b" / train).read_bytes() == (tmp_path / "a" / train).read_bytes()
    assert (tmp_path / "c" / train).read_bytes() != (tmp_path / "a" / train).read_bytes()
