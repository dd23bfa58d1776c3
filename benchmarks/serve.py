"""Latency of ``attnkit serve`` (MLflow's scoring server, over HTTP) vs the model in-process.

It trains the ``sst2-lama`` recipe (or takes ``--model-uri``), starts ``attnkit serve`` on a free
loopback port, and sends SST-2 dev sentences as ``{"dataframe_records": [...]}`` over one
keep-alive connection: ``--single`` requests of one sentence and ``--batches`` requests of
``--batch-size`` sentences. The same inputs then go through
``mlflow.pyfunc.load_model(...).predict`` in this process, with the same torch thread count
(``--threads``; one run per value). Answers are checked to agree (1e-5).

    python benchmarks/serve.py --data ../shared/data/sst2 --set training.epochs=1 --threads 1 2

Results: a table on stdout and JSON in ``benchmarks/results/serve.json``.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attnkit  # noqa: F401  (selects the torch backend before keras is imported)
import mlflow
import numpy as np
import pandas as pd
import torch

from attnkit.pipelines import fit
from report import serve_table  # benchmarks/report.py

RESULTS = Path(__file__).with_name("results") / "serve.json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dev_sentences(data: Path) -> list[str]:
    lines = (data / "glue-SST-2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines if line.strip()]


def start_server(model_uri: str, port: int, threads: int, log: Path) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    command = [sys.executable, "-m", "attnkit", "serve", model_uri, "--port", str(port)]
    command += ["--threads", str(threads)]
    with log.open("w") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"attnkit serve did not start:\n{log.read_text()}")
        time.sleep(0.5)


def post(connection: http.client.HTTPConnection, texts: list[str]) -> tuple[float, list[dict]]:
    body = json.dumps({"dataframe_records": [{"text": text} for text in texts]})
    started = time.perf_counter()
    connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    answer = connection.getresponse()
    payload = answer.read()
    elapsed = time.perf_counter() - started
    if answer.status != 200:
        raise SystemExit(f"HTTP {answer.status}: {payload[:500]!r}")
    return elapsed, json.loads(payload)["predictions"]


def in_process(model, texts: list[str]) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    frame = model.predict(pd.DataFrame({"text": texts}))
    elapsed = time.perf_counter() - started
    return elapsed, frame.to_dict("records")


def check_same(served: list[dict], local: list[dict]) -> None:
    for a, b in zip(served, local, strict=True):
        assert a["label"] == b["label"], (a, b)
        for key, value in a.items():
            if key.startswith("probability_"):
                assert abs(value - b[key]) <= 1e-5, (a, b)


def summary(seconds: list[float]) -> dict:
    ms = 1e3 * np.asarray(seconds)
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "n": len(ms),
    }


def measure(port: int, model, requests: list[list[str]], warmup: int) -> dict:
    """HTTP first, then in-process, each over all requests: not interleaved request by request,
    because torch's OpenMP threads spin for a while after each call and would slow the other
    process's next call. One fresh keep-alive connection per phase (uvicorn closes idle ones
    after 5 s)."""
    timed = {}
    answers = {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    # In-process calls run on one worker thread, as MLflow's server runs predict in a thread
    # pool: on a busy CPU, torch's OpenMP threads behave very differently from the main thread.
    worker = ThreadPoolExecutor(max_workers=1)
    calls = {
        "http": lambda texts: post(connection, texts),
        "in_process": lambda texts: worker.submit(in_process, model, texts).result(),
    }
    for name, call in calls.items():
        times, outputs = [], []
        for index, texts in enumerate(requests):
            elapsed, output = call(texts)
            outputs.append(output)
            if index >= warmup:
                times.append(elapsed)
        timed[name], answers[name] = summary(times), outputs
    connection.close()
    worker.shutdown()
    for served, local in zip(answers["http"], answers["in_process"], strict=True):
        check_same(served, local)
    return {
        **timed,
        "ratio_p50_http_over_in_process": timed["http"]["p50_ms"] / timed["in_process"]["p50_ms"],
        "ratio_p99_http_over_in_process": timed["http"]["p99_ms"] / timed["in_process"]["p99_ms"],
    }


def model_facts(model_uri: str) -> dict:
    """The logged model's run, its epochs and test accuracy (from MLflow)."""
    info = mlflow.models.get_model_info(model_uri)
    run = mlflow.get_run(info.run_id)
    return {
        "run_id": info.run_id,
        "recipe": run.data.params.get("name"),
        "training.epochs": run.data.params.get("training.epochs"),
        "test_accuracy": run.data.metrics.get("test_accuracy"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/sst2", help="the SST-2 folder")
    parser.add_argument("--model-uri", help="serve this model instead of training sst2-lama")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="recipe override for the training run (repeatable)",
    )
    parser.add_argument("--single", type=int, default=200, help="one-sentence requests")
    parser.add_argument("--batches", type=int, default=50, help="batch requests")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch request")
    parser.add_argument("--warmup", type=int, default=10, help="requests of each kind not timed")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[torch.get_num_threads()],
        help="torch CPU threads (server and in-process); one run per value",
    )
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()

    data = Path(args.data)
    model_uri = args.model_uri
    if model_uri is None:
        result = fit(
            "sst2-lama",
            data=str(data),
            overrides=args.overrides,
            experiment="bench-serve",
            register="bench-serve",
            verbose=2,
        )
        model_uri = "models:/bench-serve@champion"
        print(
            f"[bench] trained {result.run_id}: test accuracy {result.metrics['test_accuracy']:.4f}"
        )
    sentences = dev_sentences(data)
    singles = [[sentences[i % len(sentences)]] for i in range(args.warmup + args.single)]
    batches = [
        [sentences[(i * args.batch_size + j) % len(sentences)] for j in range(args.batch_size)]
        for i in range(args.warmup + args.batches)
    ]

    model = mlflow.pyfunc.load_model(model_uri)
    configs = []
    for threads in args.threads:
        # The same torch thread count in the server and here, so only the serving path differs.
        torch.set_num_threads(threads)
        port = free_port()
        load_before = os.getloadavg()
        log = Path(tempfile.gettempdir()) / f"attnkit-bench-serve-{port}.log"
        server = start_server(model_uri, port, threads, log)
        try:
            single = measure(port, model, singles, args.warmup)
            batch = measure(port, model, batches, args.warmup)
        finally:
            server.terminate()
            server.wait(timeout=60)
        log.unlink()  # kept only when the run failed
        configs.append(
            {
                "torch_threads": threads,
                "single": single,
                f"batch_{args.batch_size}": batch,
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
            }
        )

    result = {
        "model_uri": model_uri,
        "model": model_facts(model_uri),
        "request_format": "dataframe_records, one keep-alive HTTP/1.1 connection",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, cpu only",
        "configs": configs,
        "date": datetime.date.today().isoformat(),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    print(serve_table(result))
    for config in configs:
        before, after = config["load_average_before"], config["load_average_after"]
        print(f"threads {config['torch_threads']}: load average before {before}, after {after}")


if __name__ == "__main__":
    main()
