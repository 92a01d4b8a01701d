"""The regression task's TensorFlow part: the number as the label, and the value served in
the label's units."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from tasks.regression.spec import TASK


def label_op(value: Any, dense: Callable[[Any, Any], tf.Tensor]) -> tf.Tensor:
    """Transform's label: the number (NaN where absent; such rows never reach Transform)."""
    return tf.cast(dense(value, float("nan")), tf.float32)


def class_names(transform_output: Any) -> tuple[str, ...]:
    return ()


def serving_outputs(output: tf.Tensor, class_names: tf.Tensor) -> dict[str, tf.Tensor]:
    """The value in the label's units, shape (batch, 1)."""
    return {TASK.prediction_key: output}
