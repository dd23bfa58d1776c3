"""``attnkit tune``: Optuna trials through ``fit``, nested MLflow runs, pruning, workers,
continuing a study and surviving a killed worker. Embedded (SQLite) study storage; the
PostgreSQL and tracking-server tests are in their own files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from mlflow import MlflowClient

import attnkit
from attnkit.errors import ConfigError
from attnkit.pipelines import cli
from attnkit.pipelines.study_runs import RUN_ATTR
from attnkit.pipelines.study_storage import default_storage_url, mask_url
from attnkit.pipelines.tune import ORIGIN_ATTR, WORKER_ATTR, tune

pytestmark = pytest.mark.usefixtures("mlflow_db")

TEXTS = ["the film is wonderful .", "the script is dull ."]


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def children(parent_run_id: str) -> list:
    client = MlflowClient()
    experiment = client.get_run(parent_run_id).info.experiment_id
    runs = client.search_runs(
        [experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'"
    )
    return sorted(runs, key=lambda run: run.info.run_name)


def study_of(result: dict, tmp_path: Path) -> optuna.Study:
    assert result["storage"] == f"sqlite:///{tmp_path.resolve()}/optuna.db"
    return optuna.load_study(study_name=result["study"], storage=result["storage"])


def logged_model_runs() -> set[str]:
    experiments = [e.experiment_id for e in MlflowClient().search_experiments()]
    models = mlflow.search_logged_models(experiment_ids=experiments, output_format="list")
    return {model.source_run_id for model in models}


@pytest.mark.slow
def test_tune_nests_trials_under_one_parent_registers_the_best_and_continues(
    capsys, sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    command = ["tune", "sample-lama", "--data", str(sample_dir), "--json", *sets(tiny_overrides)]
    assert cli.main([*command, "--trials", "3", "--register", "tuned"]) == 0
    out = last_json(capsys)
    study = study_of(out, tmp_path)
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert out["trials"]["complete"] == 3 and out["monitor"] == "dev_accuracy"
    assert out["best_trial"] == study.best_trial.number
    assert out["best_value"] == study.best_value == max(t.value for t in trials)
    # model.units is pinned by --set, so only the learning rate and dropout are searched.
    assert set(out["best_params"]) == {"training.learning_rate", "model.dropout"}
    for trial in trials:  # each trial reported its dev metric per epoch (2 epochs)
        assert set(trial.intermediate_values) == {0, 1}
        assert 1e-3 <= trial.params["training.learning_rate"] <= 1e-2

    client = MlflowClient()
    parent = client.get_run(out["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["optuna.storage"] == out["storage"]
    assert parent.data.params["optuna.study"] == out["study"]
    assert parent.data.params["search.training.learning_rate"] == "float [0.001, 0.01] log"
    assert parent.data.tags["attnkit.best_trial"] == str(out["best_trial"])
    assert json.loads(parent.data.tags["attnkit.best_params"]) == out["best_params"]
    assert parent.data.metrics["best_dev_accuracy"] == out["best_value"]
    runs = children(out["parent_run_id"])
    assert [run.info.run_name for run in runs] == ["trial-0", "trial-1", "trial-2"]
    for run, trial in zip(runs, trials, strict=True):
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.state"] == "COMPLETE"
        assert float(run.data.params["training.learning_rate"]) == pytest.approx(
            trial.params["training.learning_rate"]
        )
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
    assert out["best_run_id"] in {run.info.run_id for run in runs}
    assert out["best_run_id"] in logged_model_runs()

    # The best model is registered and serves predictions through the alias.
    assert out["registered"]["version"] == 1
    assert attnkit.predict("models:/tuned@champion", TEXTS) == attnkit.predict(
        out["model_uri"], TEXTS
    )

    # The same command again: the study already has 3 trials, so nothing runs or registers.
    assert cli.main([*command, "--trials", "3", "--register", "tuned"]) == 0
    again = last_json(capsys)
    assert again["parent_run_id"] == out["parent_run_id"]
    assert again["registered"]["version"] == 1 and len(study.get_trials()) == 3

    # A larger target continues the study (trial 3), under the same parent run.
    assert cli.main([*command, "--trials", "4"]) == 0
    more = last_json(capsys)
    assert [t.number for t in study.get_trials()] == [0, 1, 2, 3]
    assert more["trials"]["complete"] == 4 and more["parent_run_id"] == out["parent_run_id"]
    assert len(children(out["parent_run_id"])) == 4


@pytest.mark.slow
def test_a_pruned_trial_stops_early_ends_its_run_and_logs_no_model(
    sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    overrides = [*tiny_overrides, "training.epochs=3", "training.patience=3"]
    # Nothing reaches a dev accuracy of 1.01, so the trial is pruned after its first epoch.
    never = optuna.pruners.ThresholdPruner(lower=1.01)
    result = tune("sample-lama", 1, data=str(sample_dir), overrides=overrides, pruner=never)
    assert result.trials["pruned"] == 1 and result.trials["complete"] == 0
    assert result.best_trial is None and result.model_uri is None
    study = optuna.load_study(study_name=result.study, storage=result.storage)
    (trial,) = study.get_trials()
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]

    (run,) = children(result.parent_run_id)
    assert run.info.status == "FINISHED" and run.data.tags["optuna.state"] == "PRUNED"
    history = MlflowClient().get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [0]  # one epoch of three
    assert run.info.run_id not in logged_model_runs()
    checkpoints = tmp_path / ".attnkit" / "checkpoints"
    assert not checkpoints.exists() or not any(checkpoints.iterdir())

    with pytest.raises(ConfigError, match="no completed trial with a model to register"):
        tune("sample-lama", 1, data=str(sample_dir), overrides=overrides, register="tuned")


@pytest.mark.slow
def test_two_worker_processes_split_the_trials(sample_dir: Path, tiny_overrides) -> None:
    overrides = [*tiny_overrides, "training.epochs=3", "training.patience=3"]
    result = tune("sample-lama", 4, data=str(sample_dir), overrides=overrides, workers=2)
    study = optuna.load_study(study_name=result.study, storage=result.storage)
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    workers = [t.user_attrs[WORKER_ATTR] for t in trials]
    assert len(set(workers)) == 2, workers
    assert len(children(result.parent_run_id)) == 4


@pytest.mark.slow
def test_timeout_stops_starting_trials_on_a_journal_file(
    sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    journal = tmp_path / "studies" / "search.journal"
    result = tune(
        "sample-lama", 50, data=str(sample_dir), overrides=list(tiny_overrides),
        storage=str(journal), timeout=0.5,
    )  # fmt: skip
    # The first trial starts before the deadline and outlasts it; no second one starts.
    assert result.trials["complete"] + result.trials["pruned"] == 1
    assert result.storage == str(journal) and journal.is_file()
    assert len(children(result.parent_run_id)) == 1


def start_worker(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "attnkit", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # A shell that starts pytest in the background (`cmd &`) ignores SIGINT, and the child
        # would inherit that; Ctrl-C must reach the worker as it does in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_first_epoch(worker: subprocess.Popen, storage: str, study: str) -> None:
    """Until the worker's first trial has reported an epoch (so its checkpoint exists)."""
    deadline = time.monotonic() + 120
    while True:
        assert worker.poll() is None, "the worker ended before it was interrupted"
        try:
            trials = optuna.load_study(study_name=study, storage=storage).get_trials()
        except KeyError:  # the study is not created yet
            trials = []
        if trials and trials[0].intermediate_values:
            return
        assert time.monotonic() < deadline, "timed out waiting for trial 0 to finish an epoch"
        time.sleep(0.1)


def tune_command(sample_dir: Path, storage: str, study: str, trials: int, overrides) -> list[str]:
    return [
        "tune", "sample-lama", "--data", str(sample_dir), "--trials", str(trials),
        "--storage", storage, "--study", study, "--heartbeat", "1",
        *sets([*overrides, "training.epochs=6", "training.patience=6"]),
    ]  # fmt: skip


def assert_resumed(run_id: str) -> None:
    """The run finished, and its epochs were each logged once (resumed, not restarted)."""
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "trial-0"
    steps = [m.step for m in client.get_metric_history(run_id, "train_loss")]
    assert steps == list(range(len(steps))) and len(steps) > 1


@pytest.mark.slow
def test_a_killed_worker_leaves_a_usable_study_and_the_rerun_resumes_its_trial(
    sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    command = tune_command(sample_dir, storage, "killed", 2, tiny_overrides)
    worker = start_worker(command)
    try:
        wait_for_first_epoch(worker, storage, "killed")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    study = optuna.load_study(study_name="killed", storage=storage)
    (killed,) = study.get_trials()
    assert killed.state == optuna.trial.TrialState.RUNNING

    # Past the grace period (2 heartbeats of 1 s), so the trial counts as dead. SQLite keeps
    # Optuna's heartbeat times to the whole second, which can hide up to 1 s of the wait.
    time.sleep(3.5)
    assert cli.main(command) == 0
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    retry = trials[1]
    assert retry.user_attrs[ORIGIN_ATTR] == 0 and retry.params == killed.params
    # The retry resumed the killed trial's checkpoint, in the same MLflow run.
    assert retry.user_attrs[RUN_ATTR] == killed.user_attrs[RUN_ATTR]
    assert_resumed(killed.user_attrs[RUN_ATTR])


@pytest.mark.slow
def test_ctrl_c_queues_the_trial_again_and_the_rerun_resumes_it(
    sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    # Many short epochs: under load the signal must still land while the trial is training.
    command = tune_command(sample_dir, storage, "interrupted", 1, tiny_overrides)
    command += ["--set", "training.epochs=30", "--set", "training.patience=30"]
    worker = start_worker(command)
    try:
        wait_for_first_epoch(worker, storage, "interrupted")
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=120) == 130
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    study = optuna.load_study(study_name="interrupted", storage=storage)
    interrupted, queued = study.get_trials()
    assert [interrupted.state.name, queued.state.name] == ["FAIL", "WAITING"]
    assert queued.system_attrs["fixed_params"] == interrupted.params  # enqueued with its values

    assert cli.main(command) == 0  # no heartbeat wait: the queued trial runs at once
    resumed = study.get_trials()[1]
    assert resumed.state.name == "COMPLETE" and len(study.get_trials()) == 2
    assert resumed.params == interrupted.params
    assert resumed.user_attrs[RUN_ATTR] == interrupted.user_attrs[RUN_ATTR]
    assert_resumed(interrupted.user_attrs[RUN_ATTR])


def test_bad_arguments_exit_2_before_any_work(capsys, sample_dir: Path, tmp_path: Path) -> None:
    base = ["tune", "sample-lama", "--data", str(sample_dir)]
    assert cli.main([*base, "--trials", "0"]) == 2
    assert "--trials must be a positive integer" in capsys.readouterr().err
    assert cli.main([*base, "--trials", "2", "--workers", "0"]) == 2
    assert "--workers must be a positive integer" in capsys.readouterr().err
    assert cli.main([*base, "--trials", "2", "--timeout", "-1"]) == 2
    assert "--timeout must be a positive number" in capsys.readouterr().err
    assert (
        cli.main(
            [*base, "--trials", "2", "--set", "model.units=8"]
            + sets(["training.learning_rate=0.01", "model.dropout=0.1"])
        )
        == 2
    )
    assert "nothing to search" in capsys.readouterr().err
    assert cli.main([*base, "--trials", "2", "--storage", "postgresql://u:pw@127.0.0.1:1/x"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the study storage" in err and "u:***@127.0.0.1:1" in err
    assert "pw" not in err.replace("postgresql", "")
    assert cli.main(["tune", "sample-lama", "--data", str(tmp_path / "none"), "--trials", "1"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert not (tmp_path / ".attnkit").exists()


def test_a_study_started_with_other_settings_is_refused(sample_dir: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/other.db"
    optuna.create_study(study_name="shared", storage=storage).set_user_attr(
        "attnkit.config_key", "0123456789abcdef"
    )
    with pytest.raises(ConfigError, match="'shared' was started with a different recipe"):
        tune("sample-lama", 2, data=str(sample_dir), storage=storage, study="shared")


def test_storage_urls() -> None:
    assert mask_url("postgresql://tuner:secret@db:5432/s") == "postgresql://tuner:***@db:5432/s"
    assert mask_url("postgresql://tuner@db/s") == "postgresql://tuner@db/s"
    assert mask_url("runs/study.journal") == "runs/study.journal"
    assert default_storage_url("sqlite:////srv/ml/mlflow.db") == "sqlite:////srv/ml/optuna.db"
    assert default_storage_url("http://127.0.0.1:5000") == f"sqlite:///{Path.cwd()}/optuna.db"
