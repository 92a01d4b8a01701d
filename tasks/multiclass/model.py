"""The multi-class task's Keras part: a softmax over a logit per class, sparse categorical
cross-entropy on the class id."""

from __future__ import annotations

from typing import Any

import keras

from tasks.multiclass.spec import TASK


def output_layer(logits: keras.KerasTensor, shapes: Any) -> keras.KerasTensor:
    # float32 under mixed precision: probabilities keep their precision.
    return keras.layers.Activation("softmax", name=TASK.prediction_key,
                                   dtype="float32")(logits)


def loss() -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy()


def metrics() -> list[keras.metrics.Metric]:
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
