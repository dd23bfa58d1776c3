"""fit / predict / evaluate / tune (and later serve): MLflow glue, recipes and the CLI."""

from attnkit.pipelines.evaluate import evaluate
from attnkit.pipelines.fit import FitResult, fit
from attnkit.pipelines.interpretability import ExplanationReport, explain
from attnkit.pipelines.predict import predict, predict_file
from attnkit.pipelines.recipes import load_recipe, shipped_recipes
from attnkit.pipelines.tracking import load_model
from attnkit.pipelines.tune import TuneResult, tune

__all__ = [
    "ExplanationReport",
    "FitResult",
    "TuneResult",
    "evaluate",
    "explain",
    "fit",
    "load_model",
    "load_recipe",
    "predict",
    "predict_file",
    "shipped_recipes",
    "tune",
]
