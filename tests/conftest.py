"""Shared fixtures: every test runs in its own temp dir with MLflow and ATTNKIT_HOME inside it.

``import attnkit`` comes before any test module imports Keras, so Keras gets the torch
backend whatever module pytest collects first.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# Tiny models on a shared 2-core machine: one intra-op thread is 10-40x faster than two
# contended OpenMP threads. Set before torch is imported; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

import attnkit  # noqa: E402, F401  (selects KERAS_BACKEND=torch before anything imports keras)

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

#: Overrides that make any text-classification recipe train in a few seconds on 2 CPU cores.
TINY_OVERRIDES = (
    "model.embedding_dim=8",
    "model.units=8",
    "model.num_heads=2",
    "training.epochs=2",
    "training.batch_size=32",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point MLflow and attnkit's checkpoints at ``tmp_path`` and chdir there."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("ATTNKIT_HOME", str(tmp_path / ".attnkit"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    if "mlflow" in sys.modules:  # a failing test must not leave a run active for the next one
        import mlflow

        while mlflow.active_run() is not None:
            mlflow.end_run(status="FAILED")


@pytest.fixture(scope="session")
def mlflow_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, empty MLflow SQLite DB (migrations cost ~2 s); tests copy it."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    directory = tmp_path_factory.mktemp("mlflow-template")
    path = directory / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{path}", str(directory / "mlruns"))
    store.engine.dispose()
    return path


@pytest.fixture(scope="session")
def new_mlflow_db(mlflow_template_db: Path):
    """``new_mlflow_db(directory)`` copies the template to ``directory/mlflow.db`` and
    returns its tracking URI (for module-scoped fixtures that own their directory)."""

    def copy(directory: Path) -> str:
        target = directory / "mlflow.db"
        shutil.copyfile(mlflow_template_db, target)
        return f"sqlite:///{target}"

    return copy


@pytest.fixture
def mlflow_db(new_mlflow_db, isolated_env: Path) -> str:
    """A fresh, migrated MLflow DB at the test's ``MLFLOW_TRACKING_URI``."""
    return new_mlflow_db(isolated_env)


@pytest.fixture(scope="session")
def tiny_overrides() -> tuple[str, ...]:
    return TINY_OVERRIDES


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """200 synthetic sentences as train/dev/test TSVs (160/20/20)."""
    from attnkit.pipelines.sample_data import make_sample_data

    directory = tmp_path / "data"
    make_sample_data(directory, size=200, seed=0)
    return directory


def _save_hf_checkpoint(encoder, folder: Path) -> None:
    """Save a BertEncoder's weights under Hugging Face BertModel names (``model.safetensors``)
    with a placeholder ``tokenizer.json``."""
    import keras
    import numpy as np
    from safetensors.numpy import save_file

    from attnkit.layers.bert_encoder import _HF_NAMES

    def value(variable):
        return np.ascontiguousarray(keras.ops.convert_to_numpy(variable))

    tensors = {
        "embeddings.word_embeddings.weight": value(encoder.word_embeddings.embeddings),
        "embeddings.position_embeddings.weight": value(encoder.position_embeddings.embeddings),
        "embeddings.token_type_embeddings.weight": value(encoder.token_type_embeddings.embeddings),
        "embeddings.LayerNorm.weight": value(encoder.embeddings_norm.gamma),
        "embeddings.LayerNorm.bias": value(encoder.embeddings_norm.beta),
    }
    for index, block in enumerate(encoder.blocks):
        for part, name in _HF_NAMES.items():
            prefix = f"encoder.layer.{index}.{name}"
            if part.endswith("norm"):
                tensors[f"{prefix}.weight"] = value(block[part].gamma)
                tensors[f"{prefix}.bias"] = value(block[part].beta)
            else:
                tensors[f"{prefix}.weight"] = np.ascontiguousarray(value(block[part].kernel).T)
                tensors[f"{prefix}.bias"] = value(block[part].bias)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_text("{}")


@pytest.fixture
def write_hf_checkpoint():
    """``write_hf_checkpoint(encoder, folder)``: a BertEncoder as a Hugging Face checkpoint folder."""
    return _save_hf_checkpoint
