"""The ``[search]`` table of a recipe: parsing, strict validation, sampling (no training)."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

import attnkit.pipelines
from attnkit.errors import ConfigError
from attnkit.pipelines.recipes import load_recipe, load_recipe_and_search, parse_override
from attnkit.pipelines.search_space import Dimension, toml_literal

SAMPLE = (Path(attnkit.pipelines.__file__).parent / "recipes" / "sample-lama.toml").read_text()
BASE = SAMPLE.split("[search]")[0]  # the sample recipe without its search table


def recipe_with(tmp_path: Path, search: str) -> str:
    path = tmp_path / "searched.toml"
    path.write_text(BASE + "\n[search]\n" + search + "\n", encoding="utf-8")
    return str(path)


def test_shipped_sample_recipe_declares_a_space_and_fit_ignores_it() -> None:
    recipe, space = load_recipe_and_search("sample-lama")
    assert space.keys() == ["training.learning_rate", "model.dropout", "model.units"]
    assert space.dimensions["training.learning_rate"].log
    assert space.dimensions["model.units"].choices == (16, 32)
    assert "search" not in recipe and recipe == load_recipe("sample-lama")


@pytest.mark.parametrize("name", ["sst2-lama", "sst2-mhsa", "sst2-bilstm-attention", "agnews-lama"])
def test_full_size_recipes_search_the_learning_rate_and_width(name: str) -> None:
    _, space = load_recipe_and_search(name)
    assert {"training.learning_rate", "model.dropout", "model.units"} <= set(space.keys())


def test_set_fixes_a_field_and_removes_it_from_the_search() -> None:
    recipe, space = load_recipe_and_search("sample-lama", ["model.units=8"])
    assert "model.units" not in space.keys() and recipe["model"]["units"] == 8
    assert space.keys() == ["training.learning_rate", "model.dropout"]


def test_each_kind_parses_and_samples_inside_its_range(tmp_path: Path) -> None:
    path = recipe_with(
        tmp_path,
        '"training.learning_rate" = {low = 1e-4, high = 1e-2, log = true}\n'
        '"training.batch_size" = {low = 16, high = 64, step = 16}\n'
        '"model.dropout" = {low = 0.0, high = 0.5, step = 0.1}\n'
        '"model.head" = {choices = ["lama", "mhsa"]}\n'
        '"model.token_mlp" = {choices = [true, false]}\n',
    )
    _, space = load_recipe_and_search(path)
    assert space.dimensions["training.batch_size"] == Dimension(
        "training.batch_size", "int", low=16, high=64, step=16
    )
    assert space.dimensions["model.dropout"].kind == "float"
    study = optuna.create_study(direction="maximize")
    for _ in range(20):
        values = space.suggest(study.ask())
        assert 1e-4 <= values["training.learning_rate"] <= 1e-2
        assert values["training.batch_size"] in (16, 32, 48, 64)
        assert values["model.head"] in ("lama", "mhsa")
        assert isinstance(values["model.token_mlp"], bool)
        # The overrides the trial hands to fit resolve to exactly these values.
        recipe = load_recipe(path, space.overrides(values))
        assert recipe["training"]["batch_size"] == values["training.batch_size"]
        assert recipe["training"]["learning_rate"] == values["training.learning_rate"]
        assert recipe["model"]["head"] == values["model.head"]


def test_nested_tables_are_the_same_as_dotted_keys(tmp_path: Path) -> None:
    nested = tmp_path / "nested.toml"
    nested.write_text(
        BASE + "\n[search.training]\nlearning_rate = {low = 1e-4, high = 1e-2, log = true}\n",
        encoding="utf-8",
    )
    dotted = recipe_with(
        tmp_path, '"training.learning_rate" = {low = 1e-4, high = 1e-2, log = true}'
    )
    assert load_recipe_and_search(str(nested))[1] == load_recipe_and_search(dotted)[1]


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (
            '"training.learnin_rate" = {low = 1e-4, high = 1e-2}',
            "'training.learnin_rate': unknown key (did you mean training.learning_rate?)",
        ),
        (
            '"model.builder" = {choices = ["text_classifier"]}',
            "'model.builder': this field cannot be searched",
        ),
        (
            '"training.learning_rate" = {low = 1e-2, high = 1e-4}',
            "'training.learning_rate': low must be below high",
        ),
        (
            '"training.learning_rate" = {low = 0.0, high = 1e-2, log = true}',
            "'training.learning_rate': a log range needs low > 0",
        ),
        ('"training.learning_rate" = {low = 1e-4}', "'training.learning_rate': missing high"),
        (
            '"training.learning_rate" = {low = 1e-4, high = 1e-2, scale = "log"}',
            "'training.learning_rate': unknown setting 'scale'",
        ),
        (
            '"training.learning_rate" = {low = 1e-4, high = 1e-2, log = "yes"}',
            "'training.learning_rate': log must be true or false",
        ),
        ('"training.learning_rate" = 0.001', "'training.learning_rate': expected a table"),
        ('"training.epochs" = {low = 1.5, high = 4}', "'training.epochs': low must be an integer"),
        (
            '"training.epochs" = {low = 1, high = 9, step = 2, log = true}',
            "'training.epochs': step and log = true cannot be combined",
        ),
        (
            '"training.epochs" = {low = 1, high = 3, step = 5}',
            "'training.epochs': step 5 is wider than the range",
        ),
        (
            '"model.head" = {low = 1, high = 2}',
            "'model.head': a low/high range needs a numeric field",
        ),
        (
            '"model.units" = {choices = [16, "wide"]}',
            "'model.units': choice model.units must be an integer",
        ),
        ('"model.units" = {choices = []}', "'model.units': choices must be a non-empty list"),
        ('"model.units" = {choices = [16, 16]}', "'model.units': choice 16 is listed twice"),
        (
            '"model.units" = {choices = [16, 32], low = 8}',
            "'model.units': choices cannot be combined with low",
        ),
    ],
)
def test_malformed_search_entries_are_config_errors_naming_the_key(
    tmp_path: Path, search: str, message: str
) -> None:
    path = recipe_with(tmp_path, search)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_recipe_and_search(path)
    with pytest.raises(ConfigError, match=re.escape(message)):  # fit validates it too
        load_recipe(path)


def test_search_must_be_a_table(tmp_path: Path) -> None:
    path = tmp_path / "flat.toml"
    path.write_text('search = "lr"\n' + BASE, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[search\] must be a table"):
        load_recipe(str(path))


@pytest.mark.parametrize("value", [True, False, 3, 0.1, 1e-05, 2.5e-3, "lama", 'say "hi"\\'])
def test_values_round_trip_through_set_overrides(value) -> None:
    assert parse_override(f"model.x={toml_literal(value)}") == ("model.x", value)
