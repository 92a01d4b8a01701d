"""Feature preprocessing with tf.Transform, driven by the feature configuration.

Transform computes the statistics (means, standard deviations, quantiles, vocabularies)
once over the train split and bakes them into a graph that training, evaluation and
serving all apply, so they cannot drift apart. `feature_shapes` reads back the sizes the
models need (categories per feature) from that graph's output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import tensorflow as tf
import tensorflow_transform as tft

from pipeline.config import TrainingSettings, TransformSettings

MISSING_CATEGORY = b"__missing__"


def _dense(value: tf.Tensor | tf.SparseTensor, default: Any) -> tf.Tensor:
    """A rank-1 dense tensor from a (batch, 0 or 1) sparse feature, `default` where absent."""
    if isinstance(value, tf.SparseTensor):
        value = tf.sparse.to_dense(
            tf.SparseTensor(value.indices, value.values, [value.dense_shape[0], 1]),
            default_value=default,
        )
    return tf.reshape(value, [-1])


def _present_values(value: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """The values that are there (sparse features simply omit missing ones)."""
    return value.values if isinstance(value, tf.SparseTensor) else tf.reshape(value, [-1])


# Nothing here branches on tensor values, and AutoGraph would otherwise spend seconds
# converting tf.Transform's own Python source each time Transform traces this function.
@tf.autograph.experimental.do_not_convert
def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any]
                     ) -> dict[str, tf.Tensor]:
    """tf.Transform entry point: raw features in, model-ready dense features out.

    numeric: z-score over the present values, missing values imputed with the mean (0
    after scaling); bucketized: quantile bucket id over the present values, with one
    extra id, `bucket_count`, for "missing"; categorical: vocabulary id of the
    `vocabulary_top_k` most frequent values, unseen values hashed into `oov_buckets`
    extra ids. The label passes through. Every analyzer reads raw values only, so
    tf.Transform needs a single pass over the data. `custom_config["settings"]` holds
    exactly the settings Transform reads (`TransformSettings`).
    """
    settings = TransformSettings.from_dict(custom_config["settings"], "Transform")
    outputs: dict[str, tf.Tensor] = {}
    for name in settings.numeric_features:
        present = _present_values(inputs[name])
        mean, variance = tft.mean(present), tft.var(present)
        dense = _dense(inputs[name], float("nan"))
        scaled = (dense - mean) / tf.where(variance > 0, tf.sqrt(variance), 1.0)
        outputs[name] = tf.where(tf.math.is_nan(dense), tf.zeros_like(dense), scaled)
    bucket_count = settings.bucket_count
    for name in settings.bucketized_features:
        boundaries = tft.quantiles(_present_values(inputs[name]), num_buckets=bucket_count,
                                   epsilon=0.01 / bucket_count)
        dense = _dense(inputs[name], float("nan"))
        buckets = tft.apply_buckets(tf.where(tf.math.is_nan(dense), 0.0, dense), boundaries)
        outputs[name] = tf.where(tf.math.is_nan(dense), tf.cast(bucket_count, tf.int64), buckets)
    for name in settings.categorical_features:
        # Missing gets a token of its own (tf.Transform leaves "" out of vocabularies, so it
        # would share the out-of-vocabulary id with values never seen in training).
        # The approximate vocabulary is a combiner that tf.Transform packs with the other
        # analyzers into one pass; it is exact whenever a feature has fewer distinct values
        # than top_k, and the exact version costs several shuffles per feature.
        outputs[name] = tft.experimental.compute_and_apply_approximate_vocabulary(
            _dense(inputs[name], MISSING_CATEGORY),
            top_k=settings.vocabulary_top_k,
            num_oov_buckets=settings.oov_buckets,
            vocab_filename=name,
        )
    label_name = settings.label_name
    outputs[label_name] = _dense(inputs[label_name], tf.constant(0, tf.int64))
    return outputs


@dataclasses.dataclass(frozen=True)
class FeatureShapes:
    """What the models need to size themselves, read from Transform's output."""

    numeric: tuple[str, ...]
    categorical_cardinalities: dict[str, int]  # id range per categorical/bucketized feature

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for logs and the model's assets."""
        return {"numeric": list(self.numeric),
                "categorical_cardinalities": dict(self.categorical_cardinalities)}


def feature_shapes(transform_output: tft.TFTransformOutput, settings: TrainingSettings
                   ) -> FeatureShapes:
    """Vocabulary sizes (plus OOV buckets) and bucket counts (plus "missing") per feature."""
    cardinalities = {
        name: transform_output.vocabulary_size_by_name(name) + settings.oov_buckets
        for name in settings.categorical_features
    }
    cardinalities.update({name: settings.bucket_count + 1
                          for name in settings.bucketized_features})
    return FeatureShapes(numeric=tuple(settings.numeric_features),
                         categorical_cardinalities=cardinalities)
