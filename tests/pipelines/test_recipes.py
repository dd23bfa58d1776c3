"""Tests for recipes: shipped TOML files, ``--set`` overrides, validation and user files."""

from __future__ import annotations

from pathlib import Path

import pytest

import attnkit.pipelines
from attnkit.errors import ConfigError
from attnkit.pipelines.recipes import (
    flatten,
    load_recipe,
    parse_override,
    shipped_recipes,
    to_toml,
)
from attnkit.tasks.registry import get_task

RECIPE_DIR = Path(attnkit.pipelines.__file__).parent / "recipes"


def test_shipped_recipes_match_the_recipe_files() -> None:
    names = sorted(path.stem for path in RECIPE_DIR.glob("*.toml"))
    assert sorted(shipped_recipes()) == names
    assert {"sample-lama", "sst2-lama", "sst2-mhsa", "sst2-bilstm-attention", "agnews-lama"} <= set(
        names
    )


@pytest.mark.parametrize("name", sorted(path.stem for path in RECIPE_DIR.glob("*.toml")))
def test_every_shipped_recipe_loads(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe["name"] == name
    builders = {"text_classification": {"text_classifier"},
                "text_pair_classification": {"attention_pair_classifier"},
                "aspect_sentiment": {"memnet", "tnet_att"},
                "sequential_ctr": {"long_sequence_ctr"}}
    assert recipe["model"]["builder"] in builders[recipe["task"]]
    if recipe["task"] == "text_classification":
        assert recipe["model"]["head"] in {"additive", "global-context", "lama", "mhsa"}
    assert set(recipe) >= {"data", "preprocess", "model", "training", "strategy", "seed", "version"}
    # Defaults fill every key the recipe leaves out.
    assert recipe["training"]["optimizer"] == "adam"
    task = get_task(recipe["task"])
    assert set(recipe["preprocess"]) >= set(task.preprocess_defaults)
    assert set(recipe["data"]) >= set(task.data_defaults)
    if "lowercase" in task.preprocess_defaults:  # the text tasks
        assert recipe["preprocess"]["lowercase"] is True


def test_shipped_values_are_read() -> None:
    recipe = load_recipe("sample-lama")
    assert recipe["model"]["num_heads"] == 4
    assert recipe["model"]["encoder"] == "bigru"
    assert recipe["training"]["learning_rate"] == 0.003
    assert recipe["preprocess"]["max_length"] == 32
    assert recipe["data"]["path"] == "data/sample"


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("training.epochs=3", ("training", "epochs"), 3),
        ("training.learning_rate=0.01", ("training", "learning_rate"), 0.01),
        ("training.learning_rate=1", ("training", "learning_rate"), 1.0),
        ("training.global_clipnorm=1e-3", ("training", "global_clipnorm"), 0.001),
        ("training.jit_compile=true", ("training", "jit_compile"), True),
        ("preprocess.lowercase=false", ("preprocess", "lowercase"), False),
        ("model.head=mhsa", ("model", "head"), "mhsa"),
        ('model.context="mean"', ("model", "context"), "mean"),
        ("data.path=../some/data", ("data", "path"), "../some/data"),
        ("seed=7", ("seed",), 7),
        (" training.patience = 9 ", ("training", "patience"), 9),
    ],
)
def test_set_overrides_are_typed(override: str, key: tuple[str, ...], expected) -> None:
    recipe = load_recipe("sample-lama", [override])
    value = recipe
    for part in key:
        value = value[part]
    assert value == expected
    assert type(value) is type(expected)


def test_later_overrides_win_and_others_stay() -> None:
    recipe = load_recipe("sample-lama", ["training.epochs=3", "training.epochs=4"])
    assert recipe["training"]["epochs"] == 4
    assert recipe["training"]["batch_size"] == 32  # from the recipe file, untouched


def test_parse_override() -> None:
    assert parse_override("training.epochs=3") == ("training.epochs", 3)
    assert parse_override("model.head=lama") == ("model.head", "lama")
    assert parse_override("data.path=a=b") == ("data.path", "a=b")
    for bad in ("training.epochs", "=3", ""):
        with pytest.raises(ConfigError, match="KEY=VALUE"):
            parse_override(bad)


def test_unknown_key_lists_valid_keys_and_suggests_the_close_match() -> None:
    with pytest.raises(ConfigError) as caught:
        load_recipe("sample-lama", ["training.epoch=3"])
    message = str(caught.value)
    assert "unknown key 'training.epoch'" in message
    assert "did you mean training.epochs?" in message
    assert "Valid keys:" in message
    for valid in (
        "training.batch_size",
        "model.num_heads",
        "data.path",
        "preprocess.max_length",
        "seed",
    ):
        assert valid in message


def test_unknown_section_key_without_close_match() -> None:
    with pytest.raises(ConfigError, match="unknown key 'model.zzzzzz'") as caught:
        load_recipe("sample-lama", ["model.zzzzzz=1"])
    assert "did you mean" not in str(caught.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.epochs=abc", "must be an integer"),
        ("training.epochs=2.5", "must be an integer"),
        ("training.epochs=true", "must be an integer"),
        ("training.learning_rate=fast", "must be a number"),
        ("training.learning_rate=true", "must be a number"),
        ("training.jit_compile=1", "must be true or false"),
        ("training.jit_compile=yes", "must be true or false"),
        ("model.head=3", "must be a string"),
    ],
)
def test_wrong_override_type_raises_config_error(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_recipe("sample-lama", [override])
    assert override.split("=")[0] in str(caught.value)


def test_unknown_recipe_raises_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_recipe("sample-lam")
    message = str(caught.value)
    assert "unknown recipe 'sample-lam'" in message
    assert "Did you mean sample-lama" in message
    assert "sst2-lama" in message  # lists the shipped recipes
    with pytest.raises(ConfigError, match="recipe file not found"):
        load_recipe("no/such/recipe.toml")


def test_unknown_strategy_builder_and_task() -> None:
    with pytest.raises(ConfigError, match="unknown training strategy 'adversarial-x'"):
        load_recipe("sample-lama", ["training.strategy=adversarial-x"])
    with pytest.raises(ConfigError, match="unknown model builder 'nope'"):
        load_recipe("sample-lama", ["model.builder=nope"])
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        load_recipe("sample-lama", ["task=nope"])


USER_RECIPE = """
task = "text_classification"
seed = 3

[data]
path = "somewhere"

[model]
builder = "text_classifier"
head = "additive"
attention_units = 16

[training]
epochs = 2
"""


def test_user_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "my-recipe.toml"
    path.write_text(USER_RECIPE, encoding="utf-8")
    recipe = load_recipe(str(path), ["training.batch_size=8"])
    assert recipe["name"] == "my-recipe"  # the file stem when the recipe has no name
    assert recipe["seed"] == 3
    assert recipe["model"]["head"] == "additive"
    assert recipe["model"]["attention_units"] == 16
    assert recipe["model"]["units"] == 128  # the builder's default
    assert recipe["training"]["epochs"] == 2
    assert recipe["training"]["batch_size"] == 8
    assert recipe["data"]["path"] == "somewhere"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (USER_RECIPE + "\n[preprocess]\nmax_lenght = 3\n", "did you mean preprocess.max_length"),
        (USER_RECIPE.replace("epochs = 2", 'epochs = "2"'), "training.epochs must be an integer"),
        (USER_RECIPE.replace('task = "text_classification"', ""), "does not name its task"),
        (USER_RECIPE.replace('builder = "text_classifier"', ""), "does not name its model builder"),
        ("task = [unclosed\n", "not a valid TOML recipe"),
        (
            'task = "text_classification"\ndata = 3\n[model]\nbuilder = "text_classifier"\n',
            r"\[data\] must be a table",
        ),
    ],
)
def test_bad_user_toml_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_recipe(str(path))


def test_changing_the_head_by_override() -> None:
    recipe = load_recipe("sst2-lama", ["model.head=additive", "model.attention_units=32"])
    assert recipe["model"]["head"] == "additive"
    assert recipe["model"]["attention_units"] == 32
    assert recipe["model"]["encoder"] == "bigru"  # the rest of the recipe is kept
    assert load_recipe("sst2-lama")["model"]["head"] == "lama"  # the shipped file is untouched


def test_to_toml_round_trip_and_flatten(tmp_path: Path) -> None:
    recipe = load_recipe("sst2-mhsa", ['data.path=C:\\data\\"quoted"', "training.epochs=1"])
    path = tmp_path / "resolved.toml"
    path.write_text(to_toml(recipe), encoding="utf-8")
    assert load_recipe(str(path)) == recipe
    flat = flatten(recipe)
    assert flat["training.epochs"] == 1
    assert flat["model.head"] == "mhsa"
    assert flat["name"] == "sst2-mhsa"
    assert not any(isinstance(value, dict) for value in flat.values())
