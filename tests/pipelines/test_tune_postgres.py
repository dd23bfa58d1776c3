"""Two separate ``attnkit tune`` processes share one study in a real PostgreSQL database.

Needs ``ATTNKIT_TEST_POSTGRES_URL`` (``.ci/run`` starts a server on loopback and sets it).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from attnkit.pipelines.tune import WORKER_ATTR

pytestmark = pytest.mark.usefixtures("mlflow_db")


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


@pytest.mark.slow
def test_two_tune_processes_split_one_postgres_study_and_lose_no_trial(
    new_postgres_database, sample_dir: Path, tiny_overrides
) -> None:
    storage = new_postgres_database()
    command = [
        sys.executable, "-m", "attnkit", "tune", "sample-lama", "--data", str(sample_dir),
        "--trials", "4", "--storage", storage, "--study", "shared", "--json",
        *sets([*tiny_overrides, "training.epochs=3", "training.patience=3"]),
    ]  # fmt: skip
    # Both start at once, so they also race to create the tables, the study and its parent run.
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=900) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(4))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    by_worker = [t.user_attrs[WORKER_ATTR] for t in trials]
    expected = {f"{socket.gethostname()}:{worker.pid}" for worker in workers}
    assert set(by_worker) == expected, by_worker  # both worked, nobody else did

    parent = results[0]["parent_run_id"]
    assert results[1]["parent_run_id"] == parent
    assert results[0]["storage"] == storage  # no password to mask here
    client = MlflowClient()
    experiment = client.get_run(parent).info.experiment_id
    parents = client.search_runs([experiment], filter_string="tags.`attnkit.study` = 'shared'")
    assert [run.info.run_id for run in parents] == [parent]  # a racing duplicate was removed
    nested = client.search_runs(
        [experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    assert sorted(run.info.run_name for run in nested) == [f"trial-{n}" for n in range(4)]
    last = max(results, key=lambda result: result["trials"]["complete"])
    assert last["trials"]["complete"] == 4
    assert last["best_trial"] == study.best_trial.number
