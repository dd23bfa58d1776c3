"""The MLflow models-from-code pyfunc that serves an attnkit bundle on raw inputs.

MLflow runs this file when it loads the model. The Keras backend is chosen here, before
anything imports Keras, so ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` work
without ``KERAS_BACKEND`` in the environment.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.pyfunc import PythonModel  # noqa: E402


class AttnkitModel(PythonModel):
    """Raw inputs (a DataFrame with the task's input columns) -> labels and probabilities."""

    def load_context(self, context) -> None:
        from attnkit.pipelines.bundle import load_bundle

        self.loaded = load_bundle(context.artifacts["bundle"])

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        from attnkit.pipelines.outputs import answers_to_frame

        explain = bool((params or {}).get("explain", False))
        return answers_to_frame(self.loaded.predict(model_input, explain=explain))


mlflow.models.set_model(AttnkitModel())
