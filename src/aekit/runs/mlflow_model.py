"""The ``pyfunc`` model of a tracked run, as an MLflow "model from code" file.

MLflow copies this file into the logged model and runs it when the model is
loaded (``set_model`` at the end is that contract); no aekit module imports it.
The saved aekit model (``config.json`` + ``model.safetensors``) travels as the MLflow
model's artifact ``model``; :class:`AekitPyfuncModel` reads it with
:func:`aekit.load` and answers ``predict(df)``, one example per row of ``df``:

- ``params={"output": "codes"}`` (the default): the codes, ``transform``;
- ``"reconstruction"``: the reconstructions, one row of values per example (an
  image flattened, as it came in); a mixed table's as a DataFrame of its columns;
- ``"score"``: ``score_samples``, higher for more normal examples.

``df`` holds the model's values: images flattened row by row, so
``pd.DataFrame(X.reshape(len(X), -1))`` for images ``X``, or the table the model was
fitted on. A conditional model's (``--conditional``) also holds the column ``class``:
each row's class, one of the model's ``classes_`` (for digits, the digit); its codes
and reconstructions are those at that class. It gives no ``"score"``: a conditional
model's ``score_samples`` takes no class, so there is no score to give. Logged by
:func:`aekit.runs.tracking.log_pyfunc_model`.

Examples
--------
>>> import mlflow, pandas as pd  # doctest: +SKIP
>>> model = mlflow.pyfunc.load_model("runs:/RUN_ID/model")  # doctest: +SKIP
>>> codes = model.predict(pd.DataFrame(X.reshape(len(X), -1)))  # doctest: +SKIP
>>> scores = model.predict(pd.DataFrame(X), params={"output": "score"})  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import set_model

from aekit.models.registry import load
from aekit.runs.tracking import CLASS_COLUMN, MODEL_ARTIFACT, OUTPUTS, is_table_model


class AekitPyfuncModel(mlflow.pyfunc.PythonModel):
    """An aekit model behind MLflow's ``pyfunc`` interface (see the module's text)."""

    def load_context(self, context: Any) -> None:
        self.model = load(context.artifacts[MODEL_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> Any:
        output = (params or {}).get("output", OUTPUTS[0])
        if output not in OUTPUTS:
            raise MlflowException.invalid_parameter_value(  # a served model answers 400
                f"output must be one of {', '.join(OUTPUTS)}; got {output!r}."
            )
        if getattr(self.model, "n_classes_", 0):
            return self._predict_at_classes(model_input, output)
        X = self._model_input(model_input)
        if output == "codes":
            return self.model.transform(X)
        if output == "score":
            return self.model.score_samples(X)
        X_hat = self.model.reconstruct(X)
        return X_hat if isinstance(X_hat, pd.DataFrame) else X_hat.reshape(len(X_hat), -1)

    def _predict_at_classes(self, frame: pd.DataFrame, output: str) -> np.ndarray:
        """A conditional model's codes or reconstructions, at the column ``class``."""
        if output == "score":
            raise MlflowException.invalid_parameter_value(
                "a conditional model gives no outlier score: ask for output 'codes' or "
                "'reconstruction'."
            )
        if CLASS_COLUMN not in frame.columns:
            raise MlflowException.invalid_parameter_value(
                f"this model is conditional: the input needs a column {CLASS_COLUMN!r} "
                f"with each row's class, one of {self.model.classes_.tolist()}."
            )
        y = frame[CLASS_COLUMN].to_numpy()
        X = self._model_input(frame.drop(columns=CLASS_COLUMN))
        try:
            codes = self.model.transform(X, y)
        except ValueError as error:  # a class the model does not know
            raise MlflowException.invalid_parameter_value(str(error)) from None
        if output == "codes":
            return codes
        return self.model.inverse_transform(codes, y).reshape(len(X), -1)

    def _model_input(self, frame: pd.DataFrame) -> Any:
        """The rows of ``frame`` as the model takes them: a mixed table's model its
        DataFrame, any other model float32 examples in its input shape."""
        if is_table_model(self.model):
            return frame
        values = np.asarray(frame, dtype=np.float32)
        return values.reshape(len(values), *self.model.input_shape_)


set_model(AekitPyfuncModel())
