"""The binary task's Keras part: P(label = 1) from one logit, binary cross-entropy."""

from __future__ import annotations

from typing import Any

import keras

from tasks.binary.spec import TASK


def output_layer(logits: keras.KerasTensor, shapes: Any) -> keras.KerasTensor:
    # float32 under mixed precision: probabilities keep their precision.
    return keras.layers.Activation("sigmoid", name=TASK.prediction_key,
                                   dtype="float32")(logits)


def loss() -> keras.losses.Loss:
    return keras.losses.BinaryCrossentropy()


def metrics() -> list[keras.metrics.Metric]:
    return [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")]
