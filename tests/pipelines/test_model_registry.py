"""Registering logged models and moving aliases (``fit --register``, ``attnkit register``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

import attnkit
from attnkit.errors import ConfigError
from attnkit.pipelines import cli
from attnkit.pipelines.registry import check_names, model_uri_of

TEXTS = ["the film is wonderful .", "the script is dull ."]


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


@pytest.mark.slow
def test_fit_register_then_register_again_moves_the_alias(
    capsys, mlflow_db: str, sample_dir: Path, tiny_overrides
) -> None:
    fit_args = ["fit", "sample-lama", "--data", str(sample_dir), "--json", *sets(tiny_overrides)]
    assert cli.main([*fit_args, "--register", "sentiment"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("sentiment", "champion").version) == "1"
    via_alias = attnkit.predict("models:/sentiment@champion", TEXTS)
    assert via_alias == attnkit.predict(first["model_uri"], TEXTS)

    # A second model, registered by bare run id with another alias, becomes version 2.
    assert cli.main([*fit_args, "--set", "seed=7"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        cli.main(
            ["register", second["run_id"], "--name", "sentiment", "--alias", "challenger", "--json"]
        )
        == 0
    )
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer == {
        "name": "sentiment",
        "version": 2,
        "alias": "challenger",
        "model_uri": "models:/sentiment@challenger",
    }
    assert str(client.get_model_version_by_alias("sentiment", "champion").version) == "1"
    # Moving champion: registering the second model again makes version 3, now the champion.
    assert cli.main(["register", second["model_uri"], "--name", "sentiment"]) == 0
    assert str(client.get_model_version_by_alias("sentiment", "champion").version) == "3"
    assert attnkit.predict("models:/sentiment@champion", TEXTS) == attnkit.predict(
        second["model_uri"], TEXTS
    )


def test_register_unknown_run_exits_2(capsys, mlflow_db: str) -> None:
    assert cli.main(["register", "0" * 32, "--name", "sentiment"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cannot register this model" in err and "0" * 32 in err


@pytest.mark.parametrize(
    ("name", "alias", "message"),
    [
        ("bad name!", "champion", "--name"),
        ("ok", "latest", "reserved"),
        ("ok", "v3", "reserved"),
        ("ok", "", "--alias"),
    ],
)
def test_bad_names_are_rejected_before_any_work(name: str, alias: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_names(name, alias)


def test_fit_with_a_bad_register_name_fails_before_training(capsys, sample_dir: Path) -> None:
    assert cli.main(["fit", "sample-lama", "--data", str(sample_dir), "--register", "no good"]) == 2
    assert "--name 'no good'" in capsys.readouterr().err
    assert not (Path(".attnkit") / "checkpoints").exists()


def test_bare_run_id_becomes_a_runs_uri() -> None:
    assert model_uri_of("a" * 32) == f"runs:/{'a' * 32}/model"
    assert model_uri_of("models:/m-123") == "models:/m-123"
