"""MLflow glue: where runs go, logging an attnkit model, and resolving model URIs.

MLflow's own default is used unless ``MLFLOW_TRACKING_URI`` is set: metadata in
``./mlflow.db`` (SQLite) and artifacts under ``./mlruns``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from attnkit.errors import ModelNotFoundError

PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")
MODEL_NAME = "model"


def configure_tracking() -> None:
    """Process-wide MLflow settings attnkit relies on."""
    # Logging validates pip requirements with `pip install --dry-run`; offline that only slows us.
    os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Our pyfunc takes a DataFrame whose columns depend on the task, so it has no type hints.
    warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method.*")


def _requirements() -> list[str]:
    from importlib.metadata import version

    packages = ["keras", "torch", "mlflow", "polars", "pandas", "tokenizers", "scikit-learn"]
    pins = []
    for package in packages:
        pinned = version(package).split("+")[0]
        pins.append(f"{package}=={pinned}")
    return pins


def model_signature(bundle_dir: Path, input_example: Any):
    """The logged model's signature: the answers' columns and the ``explain`` parameter.

    It declares no input schema on purpose: with one, MLflow's server casts ``{"inputs": [5,
    null]}`` to the strings ``"5"`` and ``"None"`` before the model sees them, so wrong types
    could not be refused (the model checks its inputs itself; see ``serving_input``).
    """
    from mlflow.models import infer_signature

    from attnkit.pipelines.bundle import load_bundle
    from attnkit.pipelines.outputs import answers_to_frame

    answers = load_bundle(bundle_dir).predict(input_example)
    return infer_signature(None, answers_to_frame(answers), params={"explain": False})


def log_attnkit_model(bundle_dir: Path, input_example: Any):
    """Log a bundle as a models-from-code pyfunc in the active run; returns MLflow's ModelInfo."""
    import mlflow

    return mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        python_model=str(PYFUNC_FILE),
        artifacts={"bundle": str(bundle_dir)},
        input_example=input_example,
        signature=model_signature(bundle_dir, input_example),
        pip_requirements=_requirements(),
    )


def load_model(uri: str):
    """Load an attnkit model from a bundle directory, a local MLflow model directory, or
    any MLflow model URI (``runs:/ID/model``, ``models:/m-ID``, ``models:/NAME@ALIAS``).

    Example:
        >>> model = load_model("models:/sst2@champion")  # doctest: +SKIP
        >>> model.predict(["a gem"])  # doctest: +SKIP
    """
    from attnkit.pipelines.bundle import BUNDLE_FILE, load_bundle

    configure_tracking()
    local = Path(uri)
    if local.is_dir():
        if (local / BUNDLE_FILE).is_file():
            return load_bundle(local)
        if (local / "artifacts" / "bundle" / BUNDLE_FILE).is_file():
            return load_bundle(local / "artifacts" / "bundle")
        raise ModelNotFoundError(f"{uri}: directory is not an attnkit model")
    import mlflow
    from mlflow.exceptions import MlflowException

    if "://" not in uri and not uri.startswith(("models:", "runs:")):
        raise ModelNotFoundError(
            f"{uri}: no such model directory, and not an MLflow URI (runs:/..., models:/...)"
        )
    # An explicit destination: without one, a local artifact store hands back its own files.
    destination = tempfile.mkdtemp(prefix="attnkit-model-")
    try:
        try:
            local_copy = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=destination)
        except (MlflowException, OSError) as error:
            message = str(error).strip()
            first_line = message.splitlines()[0] if message else type(error).__name__
            raise ModelNotFoundError(f"{uri}: cannot load this model ({first_line})") from None
        return load_model(local_copy)
    finally:
        shutil.rmtree(destination, ignore_errors=True)
