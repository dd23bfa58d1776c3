"""Training strategies (standard; adversarial attention, PSS and DE initialisation plug in here) and losses."""

# Imported to register their strategies: at/iat/vat/ivat, de-init, pss.
from attnkit.training import adversarial_attention, de_init, pss  # noqa: F401
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
