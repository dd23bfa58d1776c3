"""``attnkit fit --distributed``: data-parallel training under torchrun, two gloo ranks on CPU.

Two launches: ``ddp_worker.py`` trains a tiny model with plain SGD on two ranks and in one
process (the weights must agree to float precision), and a real ``torchrun -m attnkit fit
--distributed`` run that is compared with a single-process ``fit`` on the same data.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

import attnkit
from attnkit.data.batches import BucketedBatches
from attnkit.data.shards import ShardedBatches
from attnkit.errors import ConfigError
from attnkit.pipelines import cli, data_parallel
from attnkit.pipelines.distributed import TORCHRUN_ENV, ProcessGroup
from attnkit.pipelines.sample_data import make_sample_data
from attnkit.training import TrainingStrategy

WORKER = Path(__file__).with_name("ddp_worker.py")
#: Small enough to train in seconds, big enough that both runs learn the sample data well.
OVERRIDES = (
    "model.embedding_dim=16",
    "model.units=8",
    "model.num_heads=2",
    "training.epochs=6",
    "training.patience=6",
    "training.batch_size=32",
    "training.learning_rate=0.03",
)
#: Test examples (of 60) the two-rank model may score differently from the single-process one.
ACCURACY_TOLERANCE = 0.05


def torchrun(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
    ]
    return subprocess.run(
        [*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


# --- sharding ------------------------------------------------------------------------------


def test_shards_split_every_batch_into_disjoint_rows_with_equal_step_counts() -> None:
    tokens = [[i + 1] * (1 + i % 7) for i in range(70)]  # each row's first token is its id
    batches = BucketedBatches({"token_ids": tokens}, list(range(70)), batch_size=16, shuffle=True)
    batches.epoch = 3
    shards = [ShardedBatches(batches, rank, 3) for rank in range(3)]
    assert [len(shard) for shard in shards] == [len(batches)] * 3
    for index in range(len(batches)):
        inputs, labels = batches[index]
        parts = [shard[index] for shard in shards]
        rows = [part[1].tolist() for part in parts]
        assert sorted(sum(rows, [])) == sorted(labels.tolist())  # disjoint, and cover the batch
        for part in parts:
            assert (part[0]["token_ids"][:, 0] - 1).tolist() == part[1].tolist()
    shards[0].on_epoch_end()  # the shared order moves on for every rank
    assert shards[1].epoch == batches.epoch == 4


def test_a_batch_smaller_than_the_world_gives_no_rank_an_empty_batch() -> None:
    batches = BucketedBatches({"token_ids": [[1], [2, 3]]}, [0, 1], batch_size=2)
    labels = [ShardedBatches(batches, rank, 3)[0][1].tolist() for rank in range(3)]
    assert [len(part) for part in labels] == [1, 1, 1]
    assert sorted(sum(labels[:2], [])) == [0, 1]


# --- errors --------------------------------------------------------------------------------


def test_distributed_outside_torchrun_is_a_one_line_error(capsys, monkeypatch) -> None:
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["fit", "sample-lama", "--distributed"]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnkit: error: --distributed needs the environment torchrun sets")
    assert "torchrun --nproc-per-node N -m attnkit fit" in err and "\n" not in err


def test_a_rank_exits_with_its_code_after_the_atexit_teardown(tmp_path: Path) -> None:
    """exit_after_leaving runs the atexit handlers (the group's teardown among them),
    flushes what was printed, and ends the process with the given code."""
    script = f"""
import atexit, os, socket
import torch.distributed as dist
from attnkit.pipelines import distributed
# Registered first, so it runs last: after join()'s teardown handler.
atexit.register(lambda: open("{tmp_path / 'torn-down'}", "w").write(str(dist.is_initialized())))
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                  MASTER_PORT=str(port), LOCAL_WORLD_SIZE="1")
distributed.join()
print("done", end="")
distributed.exit_after_leaving(3)
print("not reached")
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               timeout=120)  # fmt: skip
    assert completed.returncode == 3, completed.stderr[-2000:]
    assert completed.stdout == "done"
    assert (tmp_path / "torn-down").read_text() == "False"  # leave() ran, after our handler


def test_a_strategy_with_its_own_train_step_is_refused() -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    class OwnStep(TrainingStrategy):
        name = "own-step"

        def prepare(self, model, task):
            return keras.Sequential([model])

    group = ProcessGroup(rank=0, world_size=2, local_rank=0, backend="gloo")
    strategy = OwnStep()
    with pytest.raises(ConfigError, match="training.strategy='own-step' .* does not support"):
        data_parallel.wrap(strategy.prepare(model, None), model, strategy, group)
    standard = TrainingStrategy()
    assert data_parallel.wrap(model, model, standard, group).inner is model


# --- two ranks against one process ------------------------------------------------------


def test_two_sgd_ranks_match_one_process_that_sees_whole_batches(tmp_path: Path) -> None:
    """Rank 1 starts from other weights (the broadcast must fix that); each rank gets half of
    every batch; with averaged gradients both end where one process does; rank 0's decisions
    to cut the learning rate and to stop early are followed by rank 1."""
    result = torchrun(str(WORKER), str(tmp_path), cwd=tmp_path, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    worker.train(None, tmp_path)

    single, rank0, rank1 = (np.load(tmp_path / f"{n}.npz") for n in ("single", "rank0", "rank1"))
    assert len(single.files) == len(rank0.files) > 10
    for name in single.files:
        assert np.array_equal(rank0[name], rank1[name]), name
        np.testing.assert_allclose(rank0[name], single[name], atol=1e-5, err_msg=name)
    losses = [
        json.loads((tmp_path / f"{n}.json").read_text()) for n in ("single", "rank0", "rank1")
    ]
    assert [len(epochs) for epochs in losses] == [worker.STOP_AFTER] * 3
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)  # rank means, averaged
    assert losses[1] == losses[2]


# --- torchrun -m attnkit fit --distributed ----------------------------------------------


@dataclass
class DistributedRun:
    directory: Path
    tracking_uri: str
    completed: subprocess.CompletedProcess
    single: attnkit.pipelines.FitResult


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory, new_mlflow_db) -> DistributedRun:
    directory = tmp_path_factory.mktemp("distributed")
    data = directory / "data"
    make_sample_data(data, size=600, seed=0)
    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=new_mlflow_db(directory),
        ATTNKIT_HOME=str(directory / ".attnkit"),
        ATTNKIT_DEBUG_RANK_WEIGHTS=str(directory / "weights"),
    )
    args = ["-m", "attnkit", "fit", "sample-lama", "--data", str(data), *sets(OVERRIDES)]
    completed = torchrun(*args, "--distributed", "--json", cwd=directory, env=env)

    single_dir = directory / "single"
    single_dir.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", new_mlflow_db(single_dir))
        patch.setenv("ATTNKIT_HOME", str(single_dir / ".attnkit"))
        patch.chdir(single_dir)
        single = attnkit.fit(
            "sample-lama", data=str(data), overrides=list(OVERRIDES), verbose=0, log_model=False
        )
    return DistributedRun(directory, env["MLFLOW_TRACKING_URI"], completed, single)


@pytest.mark.slow
def test_distributed_fit_logs_one_run_from_rank_zero(distributed_run: DistributedRun) -> None:
    completed = distributed_run.completed
    assert completed.returncode == 0, completed.stderr[-3000:]
    summaries = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1, completed.stdout  # only rank 0 prints
    summary = json.loads(summaries[0])

    client = MlflowClient(distributed_run.tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    assert [run.info.run_id for run in runs] == [summary["run_id"]]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["distributed.world_size"] == "2"
    assert run.data.params["distributed.backend"] == "gloo"
    assert run.data.params["train_examples"] == "480"  # the whole train split, over both ranks
    assert len(run.data.tags["distributed.weights_sha256"]) == 64
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "train_loss")) == list(
        range(6)
    )
    assert summary["model_uri"].startswith("models:/")
    assert not any((distributed_run.directory / ".attnkit" / "checkpoints").glob("*"))


@pytest.mark.slow
def test_both_ranks_end_with_identical_weights(distributed_run: DistributedRun) -> None:
    assert distributed_run.completed.returncode == 0, distributed_run.completed.stderr[-3000:]
    folder = distributed_run.directory / "weights"
    rank0, rank1 = np.load(folder / "rank0.npz"), np.load(folder / "rank1.npz")
    assert rank0.files == rank1.files and len(rank0.files) > 10
    for name in rank0.files:
        assert np.array_equal(rank0[name], rank1[name]), name


@pytest.mark.slow
def test_two_ranks_reach_the_single_process_accuracy(distributed_run: DistributedRun) -> None:
    completed = distributed_run.completed
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(
        [line for line in completed.stdout.splitlines() if line.startswith("{")][0]
    )
    single = distributed_run.single.metrics
    assert single["dev_accuracy"] > 0.85  # the single-process run learned the task
    for name in ("dev_accuracy", "test_accuracy"):
        assert summary["metrics"][name] == pytest.approx(single[name], abs=ACCURACY_TOLERANCE), name


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc; torchrun starts each worker in a new session,
    so killing the launcher's process group leaves them running)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


@pytest.mark.slow
def test_a_killed_distributed_fit_resumes_in_the_same_run(tmp_path: Path, new_mlflow_db) -> None:
    """SIGKILL to every process (a lost node) after an epoch; the same command continues
    from rank 0's checkpoint, in the same MLflow run, each epoch logged once."""
    data = tmp_path / "data"
    make_sample_data(data, size=800, seed=1)
    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=new_mlflow_db(tmp_path),
        ATTNKIT_HOME=str(tmp_path / ".attnkit"),
        ATTNKIT_DEBUG_RANK_WEIGHTS=str(tmp_path / "weights"),
    )
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command = [*launcher, "--nproc-per-node", "2", "-m", "attnkit", "fit", "sample-lama",
               "--data", str(data), "--distributed", "--json",
               *sets([*OVERRIDES, "training.epochs=10", "training.patience=10"])]  # fmt: skip
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    first = subprocess.Popen(
        command, cwd=tmp_path, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:
            assert first.poll() is None, "the distributed fit ended before it was killed"
            runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
            if runs and client.get_metric_history(runs[0].info.run_id, "train_loss"):
                break
            assert time.monotonic() < deadline, "timed out waiting for the first epoch"
            time.sleep(0.2)
    finally:
        for pid in [first.pid, *descendants(first.pid)]:  # workers have sessions of their own
            os.kill(pid, signal.SIGKILL)
        first.wait()
    (killed,) = runs
    resumed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming run" in resumed.stdout
    summary = json.loads([line for line in resumed.stdout.splitlines() if line.startswith("{")][0])
    assert summary["run_id"] == killed.info.run_id
    assert client.get_run(killed.info.run_id).info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(killed.info.run_id, "train_loss")]
    assert sorted(steps) == list(range(10))
    weights = tmp_path / "weights"
    rank0, rank1 = np.load(weights / "rank0.npz"), np.load(weights / "rank1.npz")
    for name in rank0.files:
        assert np.array_equal(rank0[name], rank1[name]), name
