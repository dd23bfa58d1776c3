"""``attnkit serve``: request checking, start-up errors, and one end-to-end run of the server.

The end-to-end test fits and registers the tiny sample model, serves ``models:/NAME@champion``
through ``attnkit serve`` (MLflow's scoring server) on a free loopback port with no
``KERAS_BACKEND`` in the server's environment, compares its answers with ``attnkit predict``,
sends malformed requests, and stops the server with Ctrl-C (SIGINT).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import attnkit
from attnkit.errors import ConfigError
from attnkit.pipelines import cli
from attnkit.pipelines.sample_data import make_sample_data
from attnkit.pipelines.serve import local_model_copy, server_environment
from attnkit.pipelines.serving_input import (
    DEFAULT_MAX_BATCH_SIZE,
    MAX_BATCH_ENV,
    InvalidRequest,
    max_batch_size_from_env,
    request_records,
)

TEXTS = ["the film is wonderful .", "the script is not funny", "Honestly , THE ending feels dull ."]
FIELDS = ("text",)
MAX_BATCH = 8
READY_TIMEOUT_S = 240.0
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via http_proxy


# --- turning parsed requests into records (no server) -----------------------------------


@pytest.mark.parametrize(
    "model_input",
    [
        pd.DataFrame({"text": TEXTS}),  # dataframe_records / dataframe_split / CSV
        np.array(TEXTS),  # {"inputs": [...]}
        {"text": np.array(TEXTS)},  # {"inputs": {"text": [...]}} and instances of records
        [{"text": np.array(text)} for text in TEXTS],  # {"inputs": [{"text": ...}, ...]}
        TEXTS,
    ],
    ids=["dataframe", "array", "columns", "records", "list"],
)
def test_every_request_form_becomes_one_record_per_text(model_input) -> None:
    records = request_records(model_input, FIELDS, max_batch_size=MAX_BATCH)
    assert records == [{"text": text} for text in TEXTS]
    assert all(type(record["text"]) is str for record in records)


def test_a_single_text_is_one_record() -> None:
    assert request_records({"text": np.array("a film")}, FIELDS, 4) == [{"text": "a film"}]
    assert request_records("a film", FIELDS, 4) == [{"text": "a film"}]


@pytest.mark.parametrize(
    ("model_input", "message"),
    [
        (pd.DataFrame({"txt": ["a film"]}), "missing field 'text'"),
        ({"txt": np.array(["a film"])}, "missing field 'text'"),
        ([{"txt": "a film"}], "record 0: missing field 'text'"),
        (np.array(["a film", None], dtype=object), "record 1: field 'text' is missing (null)"),
        (pd.DataFrame({"text": ["a film", np.nan]}), "record 1: field 'text' is missing (null)"),
        (["a film", " \t"], "record 1: field 'text' is empty"),
        ([], "the request has no records"),
        (pd.DataFrame(), "the request has no records"),
        (["a film"] * (MAX_BATCH + 1), f"has {MAX_BATCH + 1} records; at most {MAX_BATCH}"),
    ],
)
def test_unanswerable_requests_are_refused_with_the_record_and_field(
    model_input, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        request_records(model_input, FIELDS, max_batch_size=MAX_BATCH)


def test_records_of_a_two_field_task_need_objects() -> None:
    fields = ("text", "pair")
    assert request_records({"text": ["a"], "pair": ["b"]}, fields, 4) == [
        {"text": "a", "pair": "b"}
    ]
    with pytest.raises(InvalidRequest, match="record 0: expected an object with fields"):
        request_records(["a"], fields, 4)
    with pytest.raises(InvalidRequest, match="different numbers of values"):
        request_records({"text": ["a", "b"], "pair": ["c"]}, fields, 4)


def test_max_batch_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_BATCH_ENV, raising=False)
    assert max_batch_size_from_env() == DEFAULT_MAX_BATCH_SIZE
    monkeypatch.setenv(MAX_BATCH_ENV, "16")
    assert max_batch_size_from_env() == 16
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv(MAX_BATCH_ENV, bad)
        with pytest.raises(ConfigError, match=MAX_BATCH_ENV):
            max_batch_size_from_env()


def test_server_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    env = server_environment(max_batch_size=32, threads=1)
    assert "KERAS_BACKEND" not in env  # the model's own code chooses it
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)  # uvicorn
    assert env[MAX_BATCH_ENV] == "32"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    monkeypatch.delenv(MAX_BATCH_ENV, raising=False)
    assert MAX_BATCH_ENV not in server_environment(None)


# --- errors before any server starts ----------------------------------------------------


def error_of(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_serve_refuses_an_unknown_model_or_a_folder_that_is_not_one(
    capsys, mlflow_db: str, tmp_path: Path
) -> None:
    port = free_port()
    assert cli.main(["serve", "models:/nothing@champion", "--port", str(port)]) == 2
    assert error_of(capsys).startswith("attnkit: error: models:/nothing@champion: cannot load")
    assert cli.main(["serve", str(tmp_path), "--port", str(port)]) == 2
    assert "is not an attnkit model" in error_of(capsys)


def test_serve_refuses_a_port_in_use(capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["serve", "models:/any@champion", "--port", str(port)]) == 2
    assert error_of(capsys) == (
        f"attnkit: error: --port {port}: the port is already in use on 127.0.0.1; choose another"
    )


# --- one registered model, served for real ----------------------------------------------


@dataclass
class Registered:
    directory: Path
    tracking_uri: str
    model_uri: str
    registered_uri: str


@pytest.fixture(scope="module")
def registered(tmp_path_factory, new_mlflow_db, tiny_overrides) -> Registered:
    directory = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as patch:
        uri = new_mlflow_db(directory)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("ATTNKIT_HOME", str(directory / ".attnkit"))
        patch.chdir(directory)
        make_sample_data(directory / "data", size=200, seed=0)
        result = attnkit.fit(
            "sample-lama",
            data=str(directory / "data"),
            overrides=list(tiny_overrides),
            register="served",
            verbose=0,
        )
    return Registered(directory, uri, result.model_uri, "models:/served@champion")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, body: bytes | dict, content_type: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=data, headers={"Content-Type": content_type}
    )
    try:
        with DIRECT.open(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def answers_ping(port: int) -> bool:
    try:
        with DIRECT.open(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def descendants(root: int) -> list[int]:
    """Live (non-zombie) processes below ``root``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if state != "Z":
            children.setdefault(int(parent), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until_ready(server: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not answers_ping(port):
        assert server.poll() is None, f"attnkit serve exited early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no answer on /ping:\n{log.read_text()}"
        time.sleep(0.25)


def predict_with_cli(capsys, registered: Registered, texts: list[str], tmp_path: Path) -> list:
    source = tmp_path / "inputs.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["predict", registered.registered_uri, "--input", str(source)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def assert_same_answers(served: list[dict], expected: list[dict]) -> None:
    assert [row["label"] for row in served] == [row["label"] for row in expected]
    for row, answer in zip(served, expected, strict=True):
        for label, probability in answer["probabilities"].items():
            assert row[f"probability_{label}"] == pytest.approx(probability, abs=1e-5)


MALFORMED = [
    (b'{"dataframe_records": [{"text": ', "valid JSON"),
    ({"dataframe_records": [{"txt": "a film"}]}, "missing field 'text'"),
    (
        {"dataframe_records": [{"text": "a film"}, {"text": 5}]},
        "record 1: field 'text' must be a string, got int",
    ),
    ({"inputs": [7, 8]}, "record 0: field 'text' must be a string, got int"),
    ({"inputs": {"text": True}}, "record 0: field 'text' must be a string, got bool"),
    ({"inputs": ["a film", None]}, "record 1: field 'text' is missing (null)"),
    ({"inputs": [["a", "film"]]}, "record 0: field 'text' must be a string, got list"),
    ({"inputs": ["  "]}, "record 0: field 'text' is empty"),
    ({"inputs": []}, "the request has no records"),
    ({"inputs": ["a film"] * (MAX_BATCH + 1)}, f"at most {MAX_BATCH} are allowed"),
    ({"text": "a film"}, "exactly one of the input fields"),
]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="checks processes through /proc")
def test_serve_answers_like_predict_refuses_bad_requests_and_stops_on_ctrl_c(
    capsys, registered: Registered, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    log = tmp_path / "serve.log"
    command = [
        sys.executable,
        "-m",
        "attnkit",
        "serve",
        registered.registered_uri,
        "--port",
        str(port),
        "--max-batch-size",
        str(MAX_BATCH),
    ]
    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            cwd=registered.directory,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            # As in a terminal: a shell running us in the background may have ignored SIGINT.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    children: list[int] = []
    try:
        wait_until_ready(server, port, log)
        children = descendants(server.pid)
        assert children, "attnkit serve started no server process"
        for child in children:  # the model's own code chose the backend, nobody exported it
            assert b"KERAS_BACKEND=" not in (Path("/proc") / str(child) / "environ").read_bytes()

        expected = predict_with_cli(capsys, registered, TEXTS, tmp_path)
        status, records = post(port, {"dataframe_records": [{"text": t} for t in TEXTS]})
        assert status == 200, records
        assert_same_answers(records["predictions"], expected)
        status, inputs = post(port, {"inputs": TEXTS})
        assert status == 200, inputs
        assert_same_answers(inputs["predictions"], expected)

        for body, message in MALFORMED:
            status, answer = post(port, body)
            assert 400 <= status < 500, (body, status, answer)
            assert message in answer["message"], (body, answer)

        status, after = post(port, {"inputs": TEXTS[:1]})  # still serving
        assert status == 200
        assert_same_answers(after["predictions"], expected[:1])

        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0, log.read_text()
        deadline = time.monotonic() + 10
        while any(alive(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [child for child in children if alive(child)], "server processes left behind"
        assert not answers_ping(port)
        assert "[attnkit] stopping the server" in log.read_text()
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        for child in children:
            if alive(child):
                os.kill(child, signal.SIGKILL)


@pytest.mark.slow
def test_a_bare_bundle_folder_is_wrapped_as_a_servable_model(
    registered: Registered, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    downloaded = local_model_copy(registered.model_uri, tmp_path / "logged")
    wrapped = local_model_copy(str(downloaded / "artifacts" / "bundle"), tmp_path / "wrapped")
    assert (wrapped / "MLmodel").is_file()
    assert local_model_copy(str(downloaded), tmp_path / "unused") == downloaded.resolve()
    served = mlflow.pyfunc.load_model(str(wrapped)).predict(pd.DataFrame({"text": TEXTS}))
    expected = attnkit.predict(registered.model_uri, TEXTS)
    assert_same_answers(served.to_dict("records"), expected)
