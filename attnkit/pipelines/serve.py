"""``attnkit serve``: a logged model over HTTP through MLflow's own scoring server.

The model URI is resolved (and copied locally) first, so a bad URI or a port in use is a
one-line error; then ``mlflow models serve -m COPY --env-manager local`` runs as a child of
this Python (its ``uvicorn`` taken from this Python's ``bin``). Ctrl-C or SIGTERM stops the
server and removes the copy. ``POST /invocations`` takes MLflow's JSON formats
(``{"dataframe_records": [{"text": ...}]}``, ``{"inputs": [...]}``) and answers
``{"predictions": [{"label": ..., "probability_<label>": ...}]}``.

Example:
    >>> serve("models:/sentiment@champion", port=5055)  # doctest: +SKIP
    [attnkit] serving models:/sentiment@champion at http://127.0.0.1:5055/invocations (Ctrl-C stops)
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from attnkit.errors import AttnkitError, ConfigError, ModelNotFoundError
from attnkit.pipelines.serving_input import MAX_BATCH_ENV

BUNDLE_IN_MODEL = Path("artifacts") / "bundle"
READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 10.0
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class ServeError(AttnkitError):
    """The server could not be started (it exited before answering ``/ping``)."""


def local_model_copy(model_uri: str, directory: Path) -> Path:
    """Resolve ``model_uri`` to a local MLflow model folder of an attnkit model.

    An MLflow model folder is used in place; a bare bundle folder (``attnkit.json`` +
    ``model.keras``) is wrapped as a pyfunc model under ``directory``; any MLflow URI
    (``runs:/``, ``models:/NAME@ALIAS``, ``models:/m-ID``) is downloaded into ``directory``.
    """
    from attnkit.pipelines.bundle import BUNDLE_FILE
    from attnkit.pipelines.tracking import configure_tracking

    configure_tracking()
    local = Path(model_uri)
    if local.is_dir():
        if (local / BUNDLE_IN_MODEL / BUNDLE_FILE).is_file() and (local / "MLmodel").is_file():
            return local.resolve()
        if (local / BUNDLE_FILE).is_file():
            return _wrap_bundle(local, directory / "model")
        raise ModelNotFoundError(f"{model_uri}: directory is not an attnkit model")
    if "://" not in model_uri and not model_uri.startswith(("models:", "runs:")):
        raise ModelNotFoundError(
            f"{model_uri}: no such model directory, and not an MLflow URI (runs:/..., models:/...)"
        )
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        copy = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(directory))
        )
    except (MlflowException, OSError) as error:
        message = str(error).strip()
        first_line = message.splitlines()[0] if message else type(error).__name__
        raise ModelNotFoundError(f"{model_uri}: cannot load this model ({first_line})") from None
    if not (copy / BUNDLE_IN_MODEL / BUNDLE_FILE).is_file():
        raise ModelNotFoundError(f"{model_uri}: not an attnkit model (no {BUNDLE_IN_MODEL})")
    return copy


def _wrap_bundle(bundle: Path, target: Path) -> Path:
    import mlflow

    from attnkit.pipelines.tracking import PYFUNC_FILE, _requirements

    mlflow.pyfunc.save_model(
        path=str(target),
        python_model=str(PYFUNC_FILE),
        artifacts={"bundle": str(bundle)},
        pip_requirements=_requirements(),
    )
    return target


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`ConfigError` when ``host:port`` cannot be bound (in use, or no such host)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ConfigError(f"--host {host!r}: cannot resolve this address ({error})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn does: a port in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"--port {port}: the port is already in use on {host}; choose another"
                ) from None
            raise ConfigError(
                f"--host {host} --port {port}: cannot listen here ({error.strerror})"
            ) from None


def server_url(host: str, port: int) -> str:
    """The base URL a client on this machine uses (wildcard hosts become loopback)."""
    host = _LOOPBACK.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def is_ready(url: str, timeout: float = 2.0) -> bool:
    """Whether the server at ``url`` answers ``GET /ping`` with 200 (asked directly, never
    through an ``http_proxy``)."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(f"{url}/ping", timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def serve_command(model_dir: Path, host: str, port: int) -> list[str]:
    """``mlflow models serve`` for a local model folder, run by this Python."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        str(model_dir),
        "--env-manager",
        "local",
        "-h",
        host,
        "-p",
        str(port),
    ]


def server_environment(max_batch_size: int | None, threads: int | None = None) -> dict[str, str]:
    """The server's environment: ours, with this Python's ``bin`` first on PATH (MLflow
    starts ``uvicorn`` by name), the batch limit and torch's thread count if given.
    ``KERAS_BACKEND`` (which importing attnkit sets here) is left out: the model's own code
    chooses the backend."""
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if max_batch_size is not None:
        env[MAX_BATCH_ENV] = str(max_batch_size)
    if threads is not None:  # torch reads these when it starts
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def _prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").prctl(option, value)
    except OSError:
        pass


def _die_with_parent() -> None:
    # The server gets SIGTERM if this process is killed outright: no orphaned server.
    _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_server(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server's process group (MLflow's CLI and uvicorn) and wait until every
    member has exited; SIGKILL whatever is left after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    # MLflow's CLI exits at once on SIGTERM; uvicorn, which shuts down gracefully, has then
    # been re-parented to us (its subreaper on Linux), so we wait for it too.
    while True:
        try:
            pid, _ = os.waitpid(-process.pid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                _signal_group(process.pid, signal.SIGKILL)
            time.sleep(0.05)


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass


def serve(
    model_uri: str,
    host: str = "127.0.0.1",
    port: int = 5000,
    max_batch_size: int | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> int:
    """Serve ``model_uri`` until interrupted; returns the exit status (0 after Ctrl-C/SIGTERM).

    ``threads`` sets torch's CPU threads in the server (default: torch's own choice, or
    ``OMP_NUM_THREADS``); 1 gives the lowest latency for single texts on a busy machine.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: expected a port number from 1 to 65535")
    for flag, value in (("--max-batch-size", max_batch_size), ("--threads", threads)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} {value}: expected a positive integer")
    check_port_free(host, port)
    workspace = Path(tempfile.mkdtemp(prefix="attnkit-serve-"))
    # Signal handlers can only be set from the main thread; serve() elsewhere relies on Ctrl-C.
    main_thread = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    if main_thread:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    process = None
    try:
        model_dir = local_model_copy(model_uri, workspace)
        if host not in ("127.0.0.1", "localhost", "::1"):
            log(f"[attnkit] warning: listening on {host}; the server has no authentication")
        _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: stop_server reaps uvicorn after MLflow's CLI
        process = subprocess.Popen(
            serve_command(model_dir, host, port),
            env=server_environment(max_batch_size, threads),
            start_new_session=True,  # Ctrl-C reaches us only; we stop the server in order
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        url = server_url(host, port)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not is_ready(url):
            if process.poll() is not None:
                raise ServeError(
                    f"the MLflow server exited with status {process.returncode} before it "
                    "was ready (its output is above)"
                )
            if time.monotonic() > deadline:
                raise ServeError(
                    f"the MLflow server did not answer {url}/ping in {READY_TIMEOUT_S:.0f} s"
                )
            time.sleep(0.25)
        log(f"[attnkit] serving {model_uri} at {url}/invocations (Ctrl-C stops)")
        return _wait_interruptibly(process)
    except KeyboardInterrupt:
        log("[attnkit] stopping the server")
        return 0
    finally:
        # A second Ctrl-C or SIGTERM must not cut the shutdown short.
        if main_thread:
            for sig in handlers:
                signal.signal(sig, signal.SIG_IGN)
        try:
            if process is not None:
                stop_server(process)
            shutil.rmtree(workspace, ignore_errors=True)
        finally:
            if main_thread:
                for sig, handler in handlers.items():
                    signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _wait_interruptibly(process: subprocess.Popen) -> int:
    # Not one blocking wait: torch's threads may take Ctrl-C's signal, and Python then only
    # raises KeyboardInterrupt in the main thread once it runs bytecode again.
    while True:
        try:
            return process.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            continue


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
