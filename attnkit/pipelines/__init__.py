"""fit / predict / evaluate (and later tune / serve): MLflow glue, recipes and the CLI."""

from attnkit.pipelines.evaluate import evaluate
from attnkit.pipelines.fit import FitResult, fit
from attnkit.pipelines.predict import predict, predict_file
from attnkit.pipelines.recipes import load_recipe, shipped_recipes
from attnkit.pipelines.tracking import load_model

__all__ = [
    "FitResult",
    "evaluate",
    "fit",
    "load_model",
    "load_recipe",
    "predict",
    "predict_file",
    "shipped_recipes",
]
