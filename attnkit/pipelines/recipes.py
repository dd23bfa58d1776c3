"""Recipes: named, versioned training configurations (TOML) and ``--set`` overrides.

A recipe has top-level ``name``, ``version``, ``task``, ``description``, ``seed`` and four
sections. Its valid keys are the defaults below, the task's ``data_defaults`` and
``preprocess_defaults``, and the model builder's keyword arguments, so a typo is caught
and the error lists what is valid. An optional ``[search]`` table declares the search
space of ``attnkit tune`` (see :mod:`attnkit.pipelines.search_space`).

Example:
    >>> recipe = load_recipe("sst2-lama", overrides=["training.epochs=2"])
    >>> recipe["training"]["epochs"], recipe["model"]["head"]
    (2, 'lama')
"""

from __future__ import annotations

import copy
import difflib
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from attnkit.errors import ConfigError
from attnkit.pipelines.search_space import SearchSpace, parse_search_table
from attnkit.tasks.registry import builder_defaults, get_model_builder, get_task
from attnkit.training import strategy_defaults

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_LEVEL = {"name": "", "version": 1, "task": "", "description": "", "seed": 42}
DATA_DEFAULTS = {"path": ""}
TRAINING_DEFAULTS = {
    "strategy": "standard",
    "epochs": 10,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "encoder_learning_rate": 0.0,  # > 0: the pretrained encoder's own rate (fine-tuning)
    "optimizer": "adam",
    "global_clipnorm": 5.0,
    "weight_decay": 0.0,
    "patience": 3,
    "reduce_lr_factor": 0.0,  # in (0, 1): cut the rate by it when the dev metric stalls
    "reduce_lr_patience": 1,  # epochs without dev gain before each cut
    "min_learning_rate": 0.0,  # the cuts stop here
    "monitor": "",
    "eval_batch_size": 256,
    "jit_compile": False,
    "deterministic": False,
}
SECTIONS = ("data", "preprocess", "model", "training", "strategy")


def _recipe_dir():
    return resources.files("attnkit.pipelines") / "recipes"


def shipped_recipes() -> dict[str, dict[str, Any]]:
    """The recipes shipped with attnkit, by name."""
    recipes = {}
    for entry in sorted(_recipe_dir().iterdir(), key=lambda e: e.name.removesuffix(".toml")):
        if entry.name.endswith(".toml"):
            recipes[entry.name[:-5]] = tomllib.loads(entry.read_text(encoding="utf-8"))
    return recipes


def _read_recipe_source(name_or_path: str) -> dict[str, Any]:
    shipped = shipped_recipes()
    if name_or_path in shipped:
        return shipped[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: recipe file not found")
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: not a valid TOML recipe ({error})") from None
    close = difflib.get_close_matches(name_or_path, shipped, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"unknown recipe {name_or_path!r}: not a shipped recipe nor a .toml file.{hint} "
        f"Shipped recipes: {', '.join(shipped)}"
    )


def recipe_schema(task_name: str, builder_name: str, strategy: str) -> dict[str, Any]:
    """All valid keys of a recipe and their defaults, for one task, builder and strategy."""
    task = get_task(task_name)
    builder = get_model_builder(task_name, builder_name)
    model = {"builder": builder_name}
    model.update(builder_defaults(builder, set(task.data_arguments)))
    return {
        **TOP_LEVEL,
        "data": {**DATA_DEFAULTS, **task.data_defaults},
        "preprocess": dict(task.preprocess_defaults),
        "model": model,
        "training": {**TRAINING_DEFAULTS, **task.training_defaults},
        "strategy": strategy_defaults(strategy),
    }


def _valid_keys(schema: dict[str, Any]) -> list[str]:
    keys = [key for key, value in schema.items() if not isinstance(value, dict)]
    for section in SECTIONS:
        keys.extend(f"{section}.{key}" for key in schema[section])
    return keys


def _check_type(key: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        value = float(value)
    elif isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}")
    elif isinstance(default, list) and not (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    ):
        raise ConfigError(f'{key} must be a list of strings, e.g. ["a", "b"], got {value!r}')
    return value


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word such as lama or ../data/sst2


def parse_override(override: str) -> tuple[str, Any]:
    """``"training.epochs=3"`` -> ``("training.epochs", 3)``."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {override!r}")
    return key.strip(), _parse_value(text.strip())


def _merge(schema: dict[str, Any], source: dict[str, Any], origin: str) -> dict[str, Any]:
    recipe = copy.deepcopy(schema)
    valid = _valid_keys(schema)
    for key, value in source.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: [{key}] must be a table")
            for inner, inner_value in value.items():
                _set(recipe, f"{key}.{inner}", inner_value, valid, origin)
        else:
            _set(recipe, key, value, valid, origin)
    return recipe


def _set(recipe: dict[str, Any], key: str, value: Any, valid: list[str], origin: str) -> None:
    if key not in valid:
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"{origin}: unknown key {key!r}{hint}. Valid keys: {', '.join(valid)}"
        )
    section, _, inner = key.rpartition(".")
    target = recipe[section] if section else recipe
    target[inner] = _check_type(key, value, target[inner])


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Resolve a recipe name or TOML path, apply ``--set`` overrides and validate every key
    (the ``[search]`` table too, though only ``tune`` uses it)."""
    return load_recipe_and_search(name_or_path, overrides)[0]


def load_recipe_and_search(
    name_or_path: str, overrides: list[str] | None = None
) -> tuple[dict[str, Any], SearchSpace]:
    """The resolved recipe and its search space, minus the fields pinned by ``--set``."""
    source = dict(_read_recipe_source(name_or_path))
    search = source.pop("search", {})
    parsed = [parse_override(o) for o in overrides or []]
    # Overrides of task/builder/strategy change the schema, so apply those first.
    pinned = dict(parsed)
    task = pinned.get("task", source.get("task"))
    if not task:
        raise ConfigError(f"recipe {name_or_path!r} does not name its task")
    builder = pinned.get("model.builder", source.get("model", {}).get("builder"))
    if not builder:
        raise ConfigError(f"recipe {name_or_path!r} does not name its model builder")
    strategy = pinned.get(
        "training.strategy", source.get("training", {}).get("strategy", "standard")
    )
    recipe = _merge(recipe_schema(task, builder, strategy), source, f"recipe {name_or_path}")
    valid = _valid_keys(recipe)
    for key, value in parsed:
        _set(recipe, key, value, valid, "--set")
    if not recipe["name"]:
        recipe["name"] = Path(name_or_path).stem
    current = flatten(recipe)
    space = parse_search_table(search, current, f"recipe {name_or_path}", _check_type)
    return recipe, space.without(key for key, _ in parsed)


def flatten(recipe: dict[str, Any]) -> dict[str, Any]:
    """``{"training": {"epochs": 3}}`` -> ``{"training.epochs": 3}`` (for MLflow params)."""
    flat = {}
    for key, value in recipe.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    return flat


def to_toml(recipe: dict[str, Any]) -> str:
    """Write a resolved recipe back as TOML (logged with every run)."""

    def literal(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, list):
            return "[" + ", ".join(literal(v) for v in value) + "]"
        return repr(value)

    lines = [f"{k} = {literal(v)}" for k, v in recipe.items() if not isinstance(v, dict)]
    for section in SECTIONS:
        lines.append(f"\n[{section}]")
        lines.extend(f"{k} = {literal(v)}" for k, v in recipe[section].items())
    return "\n".join(lines) + "\n"
