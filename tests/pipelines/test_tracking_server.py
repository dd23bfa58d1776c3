"""``MLFLOW_TRACKING_URI=http://...``: fit, tune and register against a real ``mlflow server``
whose backend store is PostgreSQL, started on loopback for the test.

Needs ``ATTNKIT_TEST_POSTGRES_URL`` (``.ci/run`` starts a server on loopback and sets it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

import attnkit
from attnkit.pipelines import cli
from attnkit.pipelines.bundle import BUNDLE_FILE

TEXTS = ["the film is wonderful .", "the script is dull ."]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def tracking_server(new_postgres_database, tmp_path: Path) -> Iterator[str]:
    """An ``mlflow server`` on a free loopback port: PostgreSQL backend, local artifacts."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "mlflow-server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            new_postgres_database(),
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its uvicorn and job-runner children go down with it
    )
    try:
        deadline = time.monotonic() + 180  # it migrates a fresh database first
        while not healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "mlflow server did not start:\n"
                    + (tmp_path / "mlflow-server.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_fit_tune_and_register_against_a_tracking_server(
    tracking_server: str, monkeypatch, capsys, sample_dir: Path, tiny_overrides, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    common = ["--data", str(sample_dir), "--json", *sets(tiny_overrides)]

    assert cli.main(["fit", "sample-lama", *common, "--register", "served"]) == 0
    fitted = last_json(capsys)
    assert cli.main(["tune", "sample-lama", "--trials", "2", *common]) == 0
    tuned = last_json(capsys)
    assert tuned["trials"]["complete"] == 2 and tuned["model_uri"].startswith("models:/m-")
    # With a tracking server the study's default storage is ./optuna.db (the working dir).
    assert tuned["storage"] == f"sqlite:///{tmp_path.resolve()}/optuna.db"
    assert cli.main(["register", tuned["model_uri"], "--name", "served", "--json"]) == 0
    registered = last_json(capsys)
    assert registered["version"] == 2

    client = MlflowClient()  # talks to the server
    assert client.get_model_version_by_alias("served", "champion").version == "2"
    parent = client.get_run(tuned["parent_run_id"])
    assert parent.data.tags["attnkit.best_model_uri"] == tuned["model_uri"]
    nested = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{tuned['parent_run_id']}'",
    )
    assert sorted(run.info.run_name for run in nested) == ["trial-0", "trial-1"]
    assert client.get_run(fitted["run_id"]).data.metrics["test_accuracy"] >= 0
    # Artifacts went through the server into its artifact store, and load back from it.
    assert any((tmp_path / "server-artifacts").rglob(BUNDLE_FILE))
    assert not (tmp_path / "mlruns").exists()
    answers = attnkit.predict("models:/served@champion", TEXTS)
    assert [set(a["probabilities"]) for a in answers] == [{"negative", "positive"}] * len(TEXTS)
