"""Training strategies (standard; adversarial attention, PSS and DE initialisation plug in here) and losses."""

from attnkit.training import adversarial_attention  # noqa: F401  (registers at/iat/vat/ivat)
from attnkit.training import de_init  # noqa: F401  (registers de-init)
from attnkit.training.strategies import (
    TrainingStrategy,
    get_strategy,
    register_strategy,
    strategy_defaults,
    strategy_names,
)

__all__ = [
    "TrainingStrategy",
    "get_strategy",
    "register_strategy",
    "strategy_defaults",
    "strategy_names",
]
