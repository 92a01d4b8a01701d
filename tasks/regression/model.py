"""The regression task's Keras part: the network learns a standardized value, which the
output layer turns into the label's units, so the label's size never slows the optimizer
and serving needs no separate step."""

from __future__ import annotations

from typing import Any

import keras

from tasks.regression.spec import TASK


def output_layer(logits: keras.KerasTensor, shapes: Any) -> keras.KerasTensor:
    return keras.layers.Rescaling(scale=shapes.label_std, offset=shapes.label_mean,
                                  name=TASK.prediction_key, dtype="float32")(logits)


def loss() -> keras.losses.Loss:
    return keras.losses.MeanSquaredError()


def metrics() -> list[keras.metrics.Metric]:
    return [keras.metrics.RootMeanSquaredError(name="rmse"),
            keras.metrics.MeanAbsoluteError(name="mae")]
