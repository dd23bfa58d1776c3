"""Registries of task families and model builders, filled by decorators at import time.

Example:
    >>> from attnkit.tasks.registry import get_task, model_builders
    >>> get_task("text_classification").name, "text_classifier" in model_builders("text_classification")
    ('text_classification', True)
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from attnkit.errors import ConfigError

_TASKS: dict[str, type] = {}
_BUILDERS: dict[str, dict[str, Callable[..., Any]]] = {}
# Modules that register tasks and builders when imported; a new task family adds its own.
TASK_MODULES = (
    "attnkit.tasks.text_classification",
    "attnkit.tasks.text_pairs",
    "attnkit.tasks.absa",
    "attnkit.recsys",
)


def register_task(cls: type) -> type:
    """Class decorator: make a :class:`attnkit.tasks.base.Task` subclass known by its ``name``."""
    _TASKS[cls.name] = cls
    return cls


def register_model(name: str, task: str) -> Callable:
    """Decorator: register a model builder (a ``keras.Model`` class or function) for ``task``.

    Its keyword parameters with defaults are the recipe's ``[model]`` keys.
    """

    def decorate(builder):
        _BUILDERS.setdefault(task, {})[name] = builder
        return builder

    return decorate


def load_task_modules() -> None:
    """Import every task module, registering its task, builders and Keras classes."""
    for module in TASK_MODULES:
        importlib.import_module(module)


def get_task(name: str):
    """An instance of the task family ``name``."""
    load_task_modules()
    if name not in _TASKS:
        raise ConfigError(f"unknown task {name!r}; known tasks: {sorted(_TASKS)}")
    return _TASKS[name]()


def model_builders(task: str) -> dict[str, Callable[..., Any]]:
    load_task_modules()
    return dict(_BUILDERS.get(task, {}))


def get_model_builder(task: str, name: str) -> Callable[..., Any]:
    builders = model_builders(task)
    if name not in builders:
        raise ConfigError(
            f"unknown model builder {name!r} for task {task!r}; known: {sorted(builders)}"
        )
    return builders[name]


def builder_defaults(builder: Callable[..., Any], data_arguments: set[str]) -> dict[str, Any]:
    """The builder's tunable keyword arguments and their defaults (the ``[model]`` schema)."""
    signature = inspect.signature(builder)
    defaults = {}
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        if parameter.name in data_arguments or parameter.name == "self":
            continue
        if parameter.default is parameter.empty:
            continue
        defaults[parameter.name] = parameter.default
    return defaults
