"""Training strategies: how ``fit`` trains a task's model.

A strategy is registered by name and chosen with ``training.strategy`` in a recipe; its
constructor's keyword arguments are the recipe's ``[strategy]`` keys. ``prepare`` returns
the ``keras.Model`` that ``fit`` compiles and trains: the model itself for standard
training, or a wrapper with its own ``train_step`` (adversarial attention, PSS, ...).
``initialize`` may set the starting weights first (DE initialisation).
The pipeline always saves the original model, never the wrapper.

Example:
    >>> get_strategy("standard", {}).name
    'standard'
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import keras

from attnkit.errors import ConfigError

_STRATEGIES: dict[str, type[TrainingStrategy]] = {}


@dataclass
class FitContext:
    """What ``fit`` knows about a run, for strategies that train more than once (PSS's
    extraction rounds): the task and preprocessor, the resolved recipe, the dev batches and
    targets with the monitored metric (``monitor``, ``mode`` "max" or "min"), and the run's
    checkpoint folder (``None`` where there is none), which survives a resume."""

    task: Any
    preprocessor: Any
    recipe: Mapping[str, Any]
    dev_batches: Any
    dev_targets: Any
    monitor: str
    mode: str
    checkpoint_dir: Path | None = None


def register_strategy(cls: type[TrainingStrategy]) -> type[TrainingStrategy]:
    """Class decorator: make a strategy available to recipes under ``cls.name``."""
    _STRATEGIES[cls.name] = cls
    return cls


class TrainingStrategy:
    """Plain supervised training: minimise the task loss with the recipe's optimizer."""

    name: ClassVar[str] = "standard"
    #: True when the strategy can learn from unlabelled inputs (``fit(unlabelled=...)``).
    uses_unlabelled: ClassVar[bool] = False

    def prepare(self, model: keras.Model, task: Any) -> keras.Model:
        """The model to compile and fit in place of ``model``."""
        return model

    def initialize(self, model: keras.Model, trainer: keras.Model, train_batches: Any) -> None:
        """Set ``model``'s starting weights before the first epoch (e.g. DE initialisation).

        ``fit`` calls it once, after compiling ``trainer`` (what ``prepare`` returned), inside
        the MLflow run and never on a resumed run; ``train_batches`` are the training batches.
        The default does nothing.
        """

    def bind(self, context: FitContext) -> None:
        """Receive the run's :class:`FitContext`; ``fit`` calls it after ``prepare`` and
        before ``initialize``, on new and resumed runs alike. The default ignores it."""


register_strategy(TrainingStrategy)


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def _strategy_class(name: str) -> type[TrainingStrategy]:
    if name not in _STRATEGIES:
        raise ConfigError(f"unknown training strategy {name!r}; known: {strategy_names()}")
    return _STRATEGIES[name]


def strategy_defaults(name: str) -> dict[str, Any]:
    """The strategy's parameters and defaults (the recipe's ``[strategy]`` section)."""
    signature = inspect.signature(_strategy_class(name).__init__)
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if p.name != "self" and p.default is not p.empty
    }


def get_strategy(name: str, params: Mapping[str, Any]) -> TrainingStrategy:
    return _strategy_class(name)(**params)
