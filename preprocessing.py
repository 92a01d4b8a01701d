"""Feature preprocessing with tf.Transform, driven by the feature configuration.

Transform computes the statistics (means, standard deviations, quantiles, vocabularies)
once over the train split and bakes them into a graph that training, evaluation and
serving all apply, so they cannot drift apart. `feature_shapes` reads back the sizes the
models need (categories per feature, token vocabularies and lengths, the label's classes)
from that graph's output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import tensorflow as tf
import tensorflow_transform as tft

from models.shapes import PADDING_TOKEN_ID, PIECEWISE_LINEAR, FeatureShapes, numeric_width
from pipeline.analyzers import apply_vocabularies
from pipeline.settings import TrainingSettings, TransformSettings
from tasks.graph_parts import graph_part

MISSING_CATEGORY = b"__missing__"


def _dense(value: tf.Tensor | tf.SparseTensor, default: Any,
           shape: tf.Tensor | None = None) -> tf.Tensor:
    """A rank-1 dense tensor from a (batch, 0 or 1) sparse feature, `default` where absent;
    `shape`, if given, is (batch, 1)."""
    if isinstance(value, tf.SparseTensor):
        if shape is None:
            shape = tf.stack([value.dense_shape[0], tf.constant(1, tf.int64)])
        value = tf.sparse.to_dense(tf.SparseTensor(value.indices, value.values, shape),
                                   default_value=default)
    return tf.reshape(value, [-1])


def feature_densifier(features: Mapping[str, Any]) -> Callable[[Any, Any], tf.Tensor]:
    """`_dense` for the features, with the (batch, 1) shape built once for all of them (the
    batch is the same for every one): built per feature, it was two of the four nodes each
    feature cost the serving graph on every call. Never for the label: the shape comes from
    one of `features`, and serving has no label, so anything computed from the label's
    shape would be cut from the serving graph."""
    sparse = [value for value in features.values() if isinstance(value, tf.SparseTensor)]
    shape = (tf.stack([sparse[0].dense_shape[0], tf.constant(1, tf.int64)])
             if sparse else None)
    return lambda value, default: _dense(value, default, shape)


# Nothing here branches on tensor values, and AutoGraph would otherwise spend seconds
# converting tf.Transform's own Python source each time Transform traces this function.
@tf.autograph.experimental.do_not_convert
def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any]
                     ) -> dict[str, tf.Tensor]:
    """tf.Transform entry point: raw features in, model-ready dense features out.

    numeric (`numeric_encoding`): standard, the z-score over the present values, missing
    values imputed with the mean (0 after scaling); piecewise_linear, a vector of
    `numeric_width` values per feature (`piecewise_linear`); bucketized: quantile bucket
    id over the present values, with one extra id, `bucket_count`, for "missing";
    categorical: vocabulary id of the
    `vocabulary_top_k` most frequent values, unseen values hashed into `oov_buckets`
    extra ids; text: word tokens (lowercased, split on what is not a letter, digit or
    apostrophe), the first `text_max_length` of them as vocabulary ids over the
    `text_vocabulary_top_k` most frequent tokens (unseen ones hashed into `oov_buckets`),
    shifted by one and padded with 0 to `text_max_length`. The label: as its task's
    `label_op` makes it (tasks/<name>/graph.py). Every analyzer
    reads raw values only, so tf.Transform needs a single pass over the data.
    `custom_config["settings"]` holds exactly the settings Transform reads
    (`TransformSettings`).
    """
    settings = TransformSettings.from_dict(custom_config["settings"], "Transform")
    densify = feature_densifier({name: value for name, value in inputs.items()
                                 if name != settings.label_name})
    outputs: dict[str, tf.Tensor] = {}
    if settings.numeric_features:
        # All numeric features as the columns of one (batch, k) tensor, missing as NaN: one
        # mean and one variance analyzer for all of them (tf.Transform's count, mean and
        # variance ignore NaN, per column), where one pair per feature cost about a second
        # of graph building per feature on every run, whatever the data's size.
        dense = tf.stack([densify(inputs[name], float("nan"))
                          for name in settings.numeric_features], axis=1)
        mean = tft.mean(dense, reduce_instance_dims=False)
        variance = tft.var(dense, reduce_instance_dims=False)
        scaled = (dense - mean) / tf.where(variance > 0, tf.sqrt(variance), 1.0)
        scaled = tf.where(tf.math.is_nan(dense), tf.zeros_like(dense), scaled)
        if settings.numeric_encoding == PIECEWISE_LINEAR:
            # One quantile analyzer for all the columns, as for the mean and variance.
            boundaries = tft.quantiles(dense, num_buckets=settings.numeric_bins,
                                       epsilon=0.01 / settings.numeric_bins,
                                       reduce_instance_dims=False)
            encoded = piecewise_linear(dense, scaled, tf.reshape(
                boundaries, [len(settings.numeric_features), settings.numeric_bins - 1]))
            columns = tf.unstack(encoded, num=len(settings.numeric_features), axis=1)
        else:
            columns = tf.unstack(scaled, num=len(settings.numeric_features), axis=1)
        # One node splits the columns where a slice per column cost one node each per call.
        outputs.update(zip(settings.numeric_features, columns, strict=True))
    if settings.bucketized_features:
        # One quantile analyzer for all the bucketized columns (missing as NaN, which the
        # quantiles leave out, as the mean and variance do), where one per feature cost
        # Beam stages per feature on every run.
        bucket_count = settings.bucket_count
        dense = tf.stack([densify(inputs[name], float("nan"))
                          for name in settings.bucketized_features], axis=1)
        boundaries = tf.reshape(
            tft.quantiles(dense, num_buckets=bucket_count, epsilon=0.01 / bucket_count,
                          reduce_instance_dims=False),
            [len(settings.bucketized_features), bucket_count - 1])
        missing = tf.math.is_nan(dense)
        present = tf.where(missing, tf.zeros_like(dense), dense)
        count = len(settings.bucketized_features)
        for index, (name, column, absent) in enumerate(zip(
                settings.bucketized_features, tf.unstack(present, num=count, axis=1),
                tf.unstack(missing, num=count, axis=1), strict=True)):
            buckets = tft.apply_buckets(column, boundaries[index:index + 1, :])
            outputs[name] = tf.where(absent, tf.cast(bucket_count, tf.int64), buckets)
    # Missing gets a token of its own (tf.Transform leaves "" out of vocabularies, so it
    # would share the out-of-vocabulary id with values never seen in training). Every
    # vocabulary, categorical and text, comes from one analyzer (pipeline/analyzers.py):
    # approximate (Misra-Gries), exact whenever a feature has fewer distinct values than
    # its top_k, and one Beam combine for all of them where one per feature cost Beam
    # stages per feature on every run.
    words = {name: _words(densify(inputs[name], b""), settings)
             for name in settings.text_features}
    ids = apply_vocabularies(
        {**{name: densify(inputs[name], MISSING_CATEGORY)
            for name in settings.categorical_features}, **words},
        top_k={**{name: settings.vocabulary_top_k for name in settings.categorical_features},
               **{name: settings.text_vocabulary_top_k for name in settings.text_features}},
        num_oov_buckets=settings.oov_buckets)
    for name in settings.categorical_features:
        outputs[name] = ids[name]
    for name in settings.text_features:
        outputs[name] = (ids[name] + 1).to_tensor(default_value=PADDING_TOKEN_ID,
                                                  shape=[None, settings.text_max_length])
    outputs[settings.label_name] = graph_part(settings.task).label_op(
        inputs[settings.label_name], _dense)
    return outputs


def piecewise_linear(values: tf.Tensor, scaled: tf.Tensor, boundaries: tf.Tensor
                     ) -> tf.Tensor:
    """(batch, k, numeric_width(bins)) from (batch, k) raw values (NaN: missing), their
    z-scores and (k, bins - 1) quantile boundaries b_1 <= ... <= b_{bins-1} per column.

    Per column: for each of the bins - 2 bins [b_i, b_{i+1}], how far the value is
    through it, clip((x - b_i) / (b_{i+1} - b_i), 0, 1), so 0 below the bin and 1 above
    it (Gorishniy et al., 2022, with the outer bins left to the z-score: the encoding of
    a value beyond the train split's range is then bounded); a bin of width 0 (a value
    many rows share) is the step x >= b_i. Then the z-score clipped to [-5, 5], and 1 for
    a missing value, whose other entries are 0."""
    missing = tf.math.is_nan(values)
    present = tf.where(missing, tf.zeros_like(values), values)[:, :, tf.newaxis]
    low, high = boundaries[tf.newaxis, :, :-1], boundaries[tf.newaxis, :, 1:]
    width = high - low
    through = tf.where(width > 0,
                       tf.clip_by_value((present - low) / tf.where(width > 0, width, 1.0),
                                        0.0, 1.0),
                       tf.cast(present >= low, tf.float32))
    through = tf.where(missing[:, :, tf.newaxis], tf.zeros_like(through), through)
    return tf.concat([through, tf.clip_by_value(scaled, -5.0, 5.0)[:, :, tf.newaxis],
                      tf.cast(missing, tf.float32)[:, :, tf.newaxis]], axis=2)


def _words(text: tf.Tensor, settings: TransformSettings) -> tf.RaggedTensor:
    """(batch, None) word tokens of a text feature's (batch,) texts, the first
    `text_max_length` of each."""
    text = tf.strings.lower(text)
    words = tf.strings.split(tf.strings.strip(tf.strings.regex_replace(text, r"[^\w']+", " ")))
    return words[:, :settings.text_max_length]


def feature_shapes(transform_output: tft.TFTransformOutput, settings: TrainingSettings
                   ) -> FeatureShapes:
    """Vocabulary sizes (plus OOV buckets) and bucket counts (plus "missing") per feature,
    token vocabularies and lengths per text feature, and the label's classes (if its task
    has any)."""
    cardinalities = {
        name: transform_output.vocabulary_size_by_name(name) + settings.oov_buckets
        for name in settings.categorical_features
    }
    cardinalities.update({name: settings.bucket_count + 1
                          for name in settings.bucketized_features})
    text = {name: (transform_output.vocabulary_size_by_name(name) + settings.oov_buckets + 1,
                   settings.text_max_length)
            for name in settings.text_features}
    return FeatureShapes(numeric=tuple(settings.numeric_features),
                         numeric_width=numeric_width(settings.numeric_encoding,
                                                     settings.numeric_bins),
                         categorical_cardinalities=cardinalities, text=text,
                         task=settings.task,
                         class_names=graph_part(settings.task).class_names(transform_output))
