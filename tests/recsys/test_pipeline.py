"""The sequence CTR task end to end: ``attnkit fit`` on a generated log, predict on raw
histories (unknown ids included), evaluate, and the saved id maps."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest

import attnkit
from attnkit.errors import AttnkitError
from attnkit.pipelines import cli
from attnkit.pipelines.recipes import load_recipe
from attnkit.recsys.synthetic import make_synthetic_log

pytestmark = [pytest.mark.usefixtures("mlflow_db"), pytest.mark.slow]

TINY = ["model.item_dim=4", "model.category_dim=4", "model.time_dim=4", "model.hidden_1=16",
        "model.hidden_2=8", "model.auxiliary_hidden=8", "preprocess.max_length=30",
        "training.epochs=3", "training.batch_size=64", "data.min_behaviours=5"]


def sets(overrides) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return make_synthetic_log(tmp_path / "log" / "interactions.csv", users=120, items=200,
                              categories=8, mean_length=25, seed=0)


def test_shipped_recipes_resolve() -> None:
    variants = {name: load_recipe(name)["model"]["variant"] for name in
                ("movielens-dare", "movielens-twin", "movielens-din", "taobao-dare", "taobao-twin")}
    assert variants == {"movielens-dare": "dare", "movielens-twin": "twin",
                        "movielens-din": "din", "taobao-dare": "dare", "taobao-twin": "twin"}
    assert load_recipe("movielens-din")["model"]["use_time"] is False
    assert load_recipe("taobao-dare")["data"]["behaviours"] == ["pv"]


def test_fit_predict_evaluate_on_a_generated_log(capsys, log_path: Path, tmp_path: Path) -> None:
    code = cli.main(["fit", "movielens-dare", "--data", str(log_path.parent), *sets(TINY),
                     "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    metrics = summary["metrics"]
    assert metrics["test_auc"] > 0.6 and 0 < metrics["test_gauc"] <= 1
    assert metrics["test_logloss"] > 0

    records = [
        {"history": [5, 17, "23", 40], "candidates": [5, 41, "unknown-item"]},
        {"history": [], "candidates": 7},  # a user with no history
    ]
    answers = attnkit.predict(summary["model_uri"], records)
    assert [a["candidates"] for a in answers] == [["5", "41", "unknown-item"], ["7"]]
    assert all(0 < s < 1 for a in answers for s in a["scores"])
    with pytest.raises(AttnkitError, match=r"record 0: field 'history' must be a list"):
        attnkit.predict(summary["model_uri"], [{"history": 5, "candidates": [1]}])
    with pytest.raises(AttnkitError, match=r"record 0: missing field 'candidates'"):
        attnkit.predict(summary["model_uri"], [{"history": [1]}])

    # The CLI reads JSON Lines; a reloaded model (id maps included) answers the same.
    raw = tmp_path / "requests.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in records))
    output = tmp_path / "answers.jsonl"
    assert cli.main(["predict", summary["model_uri"], "--input", str(raw), "--output",
                     str(output)]) == 0
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert written == answers

    # The logged MLflow model (what `attnkit serve` runs) takes the same records.
    served = mlflow.pyfunc.load_model(summary["model_uri"]).predict(pd.DataFrame(records))
    assert [json.loads(scores) for scores in served["scores"]] == [a["scores"] for a in answers]

    evaluated = attnkit.evaluate(summary["model_uri"], str(log_path.parent))
    assert evaluated["test_auc"] == pytest.approx(metrics["test_auc"])
    assert evaluated["dev_gauc"] == pytest.approx(metrics["dev_gauc"])
