"""The binary task's TensorFlow part: the 0/1 label Transform writes, and P(label = 1)
served."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from tasks.binary.spec import TASK


def label_op(value: Any, dense: Callable[[Any, Any], tf.Tensor]) -> tf.Tensor:
    """Transform's label: 0/1, 0 where absent (a rule labels every row)."""
    return dense(value, tf.constant(0, tf.int64))


def class_names(transform_output: Any) -> tuple[str, ...]:
    return ()


def serving_outputs(output: tf.Tensor, class_names: tf.Tensor) -> dict[str, tf.Tensor]:
    """P(label = 1), shape (batch, 1)."""
    return {TASK.prediction_key: output}
