"""The MLflow model registry: register a logged attnkit model and move an alias to it.

Aliases (``champion``, ``challenger``, ...) replace MLflow's deprecated stages; a model is then
loaded everywhere as ``models:/NAME@ALIAS``.

Example:
    >>> register("runs:/0123456789abcdef0123456789abcdef/model", "sst2")  # doctest: +SKIP
    {'name': 'sst2', 'version': 1, 'alias': 'champion', 'model_uri': 'models:/sst2@champion'}
"""

from __future__ import annotations

import re

from attnkit.errors import ConfigError, ModelNotFoundError
from attnkit.pipelines.tracking import MODEL_NAME, configure_tracking

DEFAULT_ALIAS = "champion"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def model_uri_of(run_or_model: str) -> str:
    """A bare run id becomes ``runs:/ID/model``; any other URI is returned unchanged."""
    return f"runs:/{run_or_model}/{MODEL_NAME}" if _RUN_ID.match(run_or_model) else run_or_model


def check_names(name: str, alias: str) -> None:
    """Reject registered-model and alias names MLflow would refuse, before any work is done."""
    for label, value in (("--name", name), ("--alias", alias)):
        if not _NAME.match(value or ""):
            raise ConfigError(
                f"{label} {value!r} is not a valid name (letters, digits, '_', '.', '-')"
            )
    if alias.lower() == "latest" or re.fullmatch(r"v\d+", alias.lower()):
        raise ConfigError(f"--alias {alias!r} is reserved by MLflow; choose another name")


def register(run_or_model: str, name: str, alias: str = DEFAULT_ALIAS) -> dict:
    """Register ``run_or_model`` (a run id or model URI) as a new version of ``name`` and
    point ``alias`` at that version."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    check_names(name, alias)
    configure_tracking()
    uri = model_uri_of(run_or_model)
    try:
        mlflow.artifacts.list_artifacts(artifact_uri=uri)
        version = mlflow.register_model(uri, name)
    except MlflowException as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else "not found"
        raise ModelNotFoundError(
            f"{run_or_model}: cannot register this model ({message})"
        ) from None
    MlflowClient().set_registered_model_alias(name, alias, version.version)
    return {
        "name": name,
        "version": int(version.version),
        "alias": alias,
        "model_uri": f"models:/{name}@{alias}",
    }
