"""A recipe's hyper-parameter search space: the ``[search]`` table, validated and sampled.

Each entry names a recipe field and how to draw it::

    [search]
    "training.learning_rate" = {low = 1e-4, high = 3e-3, log = true}   # float, log scale
    "model.dropout" = {low = 0.1, high = 0.5}                           # float, uniform
    "model.units" = {choices = [32, 64, 128]}                          # categorical
    "training.batch_size" = {low = 16, high = 64, step = 16}           # int with a step

A range's type follows the field's (an int field gets ``suggest_int``); ``choices`` work for
any field and are checked against its type. Fields pinned with ``--set`` leave the search.

Example:
    >>> space = parse_search_table({"model.units": {"choices": [16, 32]}}, {"model.units": 32},
    ...                            "recipe x", check=lambda key, value, default: value)
    >>> space.keys(), space.overrides({"model.units": 16})
    (['model.units'], ['model.units=16'])
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from attnkit.errors import ConfigError

SPEC_KEYS = ("low", "high", "log", "step", "choices")
#: Fields that change the recipe's schema (or only name it) cannot be searched.
NOT_SEARCHABLE = ("name", "version", "task", "description", "model.builder", "training.strategy")

CheckType = Callable[[str, Any, Any], Any]


@dataclass(frozen=True)
class Dimension:
    """One searched field: a float or int range, or a list of choices."""

    key: str
    kind: str  # "float", "int" or "categorical"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Draw this field's value for an Optuna trial (the parameter is named ``key``)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(
                self.key, self.low, self.high, step=self.step or 1, log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"choices": list(self.choices)}
        spec: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec

    def describe(self) -> str:
        """A short text for logs and MLflow params, e.g. ``float [0.0001, 0.003] log``."""
        if self.kind == "categorical":
            return "choice of " + json.dumps(list(self.choices))
        text = f"{self.kind} [{self.low}, {self.high}]"
        if self.step is not None:
            text += f" step {self.step}"
        return text + (" log" if self.log else "")


class SearchSpace:
    """The searched fields of a recipe, by dotted key (``training.learning_rate``)."""

    def __init__(self, dimensions: Iterable[Dimension] = ()) -> None:
        self.dimensions = {d.key: d for d in dimensions}

    def __bool__(self) -> bool:
        return bool(self.dimensions)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    def keys(self) -> list[str]:
        return list(self.dimensions)

    def without(self, keys: Iterable[str]) -> SearchSpace:
        """The space minus ``keys`` (fields fixed by ``--set``)."""
        fixed = set(keys)
        return SearchSpace(d for k, d in self.dimensions.items() if k not in fixed)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """One value per field, drawn by ``trial`` (or replayed, for a retried trial)."""
        return {key: dimension.suggest(trial) for key, dimension in self.dimensions.items()}

    def overrides(self, values: dict[str, Any]) -> list[str]:
        """``--set``-style overrides that apply ``values`` to the recipe."""
        return [f"{key}={toml_literal(value)}" for key, value in values.items()]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {key: dimension.to_dict() for key, dimension in self.dimensions.items()}


def toml_literal(value: Any) -> str:
    """A value as a TOML literal, which is what ``--set`` parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    return repr(value)


def _flatten(table: dict[str, Any], sections: Iterable[str]) -> dict[str, Any]:
    """Accept both ``"training.learning_rate" = {...}`` and ``[search.training]`` tables."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        nested = isinstance(value, dict) and not set(value) & set(SPEC_KEYS)
        if nested and key in sections:
            flat.update({f"{key}.{inner}": spec for inner, spec in value.items()})
        else:
            flat[key] = value
    return flat


def _number(where: str, name: str, value: Any, integer: bool) -> float | int:
    if integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {name} must be an integer, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: {name} must be a finite number, got {value!r}")
    return float(value)


def _range(where: str, key: str, spec: dict[str, Any], default: Any) -> Dimension:
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        raise ConfigError(
            f"{where}: a low/high range needs a numeric field; give choices = [...] instead"
        )
    missing = [name for name in ("low", "high") if name not in spec]
    if missing:
        raise ConfigError(f"{where}: missing {' and '.join(missing)} (or give choices = [...])")
    integer = isinstance(default, int)
    low = _number(where, "low", spec["low"], integer)
    high = _number(where, "high", spec["high"], integer)
    if not low < high:
        raise ConfigError(f"{where}: low must be below high, got low={low!r}, high={high!r}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got low={low!r}")
    step = spec.get("step")
    if step is not None:
        step = _number(where, "step", step, integer)
        if step <= 0:
            raise ConfigError(f"{where}: step must be positive, got {step!r}")
        if log and step != 1:
            raise ConfigError(f"{where}: step and log = true cannot be combined")
        if step > high - low:
            raise ConfigError(f"{where}: step {step!r} is wider than the range [{low}, {high}]")
    kind = "int" if integer else "float"
    return Dimension(key, kind, low=low, high=high, log=log, step=step)


def _choices(
    where: str, key: str, spec: dict[str, Any], default: Any, check: CheckType
) -> Dimension:
    extra = [name for name in spec if name != "choices"]
    if extra:
        raise ConfigError(f"{where}: choices cannot be combined with {', '.join(extra)}")
    choices = spec["choices"]
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{where}: choices must be a non-empty list, got {choices!r}")
    checked = []
    for choice in choices:
        if isinstance(choice, (list, dict)):
            raise ConfigError(f"{where}: choices must be plain values, got {choice!r}")
        try:
            value = check(key, choice, default)
        except ConfigError as error:
            raise ConfigError(f"{where}: choice {error}") from None
        if value in checked:
            raise ConfigError(f"{where}: choice {choice!r} is listed twice")
        checked.append(value)
    return Dimension(key, "categorical", choices=tuple(checked))


def parse_search_table(
    table: Any, current: dict[str, Any], origin: str, check: CheckType
) -> SearchSpace:
    """Validate a recipe's ``[search]`` table against its fields.

    ``current`` maps every recipe field (dotted key) to its resolved value, whose type the
    searched values must have; ``check(key, value, default)`` is the recipe's type check.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: [search] must be a table")
    sections = {key.partition(".")[0] for key in current if "." in key}
    searchable = [key for key in current if key not in NOT_SEARCHABLE]
    dimensions = []
    for key, spec in _flatten(table, sections).items():
        where = f"{origin}: [search] {key!r}"
        if key not in searchable:
            if key in NOT_SEARCHABLE:
                raise ConfigError(f"{where}: this field cannot be searched")
            close = difflib.get_close_matches(key, searchable, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"{where}: unknown key{hint}. Searchable keys: {', '.join(searchable)}"
            )
        if not isinstance(spec, dict):
            raise ConfigError(
                f"{where}: expected a table such as {{low = .., high = ..}} or "
                f"{{choices = [..]}}, got {spec!r}"
            )
        unknown = [name for name in spec if name not in SPEC_KEYS]
        if unknown:
            raise ConfigError(
                f"{where}: unknown setting {unknown[0]!r}; expected {', '.join(SPEC_KEYS)}"
            )
        if "choices" in spec:
            dimensions.append(_choices(where, key, spec, current[key], check))
        else:
            dimensions.append(_range(where, key, spec, current[key]))
    return SearchSpace(dimensions)
