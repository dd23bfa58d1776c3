"""The MLflow models-from-code pyfunc that serves an attnkit bundle on raw inputs.

MLflow runs this file when it loads the model. The Keras backend is chosen here, before
anything imports Keras, so ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` work
without ``KERAS_BACKEND`` in the environment.

Bad inputs (a missing, null, empty or mistyped field, an empty or oversize batch) raise
``MlflowException(INVALID_PARAMETER_VALUE)``, which MLflow's scoring server answers with
HTTP 400 and the message; see :mod:`attnkit.pipelines.serving_input`.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE  # noqa: E402
from mlflow.pyfunc import PythonModel  # noqa: E402


class AttnkitModel(PythonModel):
    """Raw inputs (a DataFrame with the task's input columns) -> labels and probabilities."""

    def load_context(self, context) -> None:
        from attnkit.pipelines.bundle import load_bundle
        from attnkit.pipelines.serving_input import max_batch_size_from_env

        self.loaded = load_bundle(context.artifacts["bundle"])
        self.max_batch_size = max_batch_size_from_env()

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        from attnkit.errors import AttnkitError
        from attnkit.pipelines.outputs import answers_to_frame
        from attnkit.pipelines.serving_input import request_records

        explain = bool((params or {}).get("explain", False))
        try:
            records = request_records(
                model_input, self.loaded.task.input_fields, self.max_batch_size
            )
            answers = self.loaded.predict(records, explain=explain)
        except AttnkitError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None
        return answers_to_frame(answers)


mlflow.models.set_model(AttnkitModel())
