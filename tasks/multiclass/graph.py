"""The multi-class task's TensorFlow part: the class id from Transform's label vocabulary,
and a probability per class served with the class names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from tasks.multiclass.spec import TASK

# The vocabulary file of the label's classes (most frequent first): class id i is line i,
# so the model's i-th probability belongs to it.
LABEL_CLASSES_VOCABULARY = "label_classes"


def label_op(value: Any, dense: Callable[[Any, Any], tf.Tensor]) -> tf.Tensor:
    """Transform's label: the class id. No out-of-vocabulary bucket: an eval class never
    seen in training is stopped by the data checks before Transform
    (pipeline/components/anomaly_gate.py)."""
    return tft.compute_and_apply_vocabulary(
        dense(value, b""), vocab_filename=LABEL_CLASSES_VOCABULARY, default_value=-1)


def class_names(transform_output: Any) -> tuple[str, ...]:
    """The classes in output order, from Transform's label vocabulary."""
    return tuple(value.decode() if isinstance(value, bytes) else str(value)
                 for value in transform_output.vocabulary_by_name(LABEL_CLASSES_VOCABULARY))


def serving_outputs(output: tf.Tensor, class_names: tf.Tensor) -> dict[str, tf.Tensor]:
    """A probability per class (batch, classes), the class names in that order, and the
    most probable class (batch,)."""
    classes = tf.tile(class_names[tf.newaxis], [tf.shape(output)[0], 1])
    return {TASK.prediction_key: output, "classes": classes,
            "class": tf.gather(class_names, tf.argmax(output, axis=1))}
