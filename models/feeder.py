"""The tf.data input pipeline that feeds training and evaluation.

Built on tfx-bsl's data accessor, which reads the TFRecords Transform wrote with parallel
interleaved reads and parallel parsing of whole batches; we add a seeded shuffle, the
batch size and prefetching so the accelerator never waits for input.
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor
from tfx_bsl.public import tfxio

from models.shapes import FeatureShapes
from pipeline.settings import TrainingSettings
from preprocessing import feature_shapes
from tasks import task_named


def build_feeder(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    transform_output: tft.TFTransformOutput,
    settings: TrainingSettings,
    batch_size: int,
    training: bool,
) -> tf.data.Dataset:
    """(features, label) batches of transformed examples; one pass, reshuffled per pass."""
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size,
        num_epochs=1,
        shuffle=training,
        shuffle_buffer_size=settings.shuffle_buffer,
        shuffle_seed=settings.seed if training else None,
        label_key=settings.label_name,
        prefetch_buffer_size=tf.data.AUTOTUNE,
        reader_num_threads=tf.data.AUTOTUNE,
        parser_num_threads=tf.data.AUTOTUNE,
        # In-order reads keep a seeded run reproducible, batch for batch.
        sloppy_ordering=False,
    )
    dataset = data_accessor.tf_dataset_factory(
        file_pattern, options, transform_output.transformed_metadata.schema
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def count_examples(file_patterns: list[str]) -> int:
    """The examples in gzipped TFRecord files (as Transform writes them), counted in one
    pass that parses nothing."""
    files = sorted(path for pattern in file_patterns for path in tf.io.gfile.glob(pattern))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP",
                                      num_parallel_reads=tf.data.AUTOTUNE).batch(8192)
    return int(dataset.reduce(tf.constant(0, tf.int64),
                              lambda total, batch: total + tf.size(batch, tf.int64)))


def label_statistics(file_patterns: list[str], label_name: str) -> tuple[float, float]:
    """The mean and standard deviation (1 when the label is constant) of a numeric label
    over transformed examples (gzipped TFRecords, as Transform writes them), in one pass
    that parses the label alone."""
    files = sorted(path for pattern in file_patterns for path in tf.io.gfile.glob(pattern))
    spec = {label_name: tf.io.FixedLenFeature([], tf.float32)}
    dataset = (tf.data.TFRecordDataset(files, compression_type="GZIP",
                                       num_parallel_reads=tf.data.AUTOTUNE)
               .batch(8192)
               .map(lambda records: tf.cast(tf.io.parse_example(records, spec)[label_name],
                                            tf.float64),
                    num_parallel_calls=tf.data.AUTOTUNE))
    count = total = squares = 0.0
    for labels in dataset:
        count += float(tf.size(labels))
        total += float(tf.reduce_sum(labels))
        squares += float(tf.reduce_sum(labels * labels))
    if not count:
        raise ValueError(f"No examples with label {label_name!r} in {file_patterns}.")
    mean = total / count
    variance = max(squares / count - mean * mean, 0.0)
    return mean, (math.sqrt(variance) if variance > 0 else 1.0)


def training_shapes(transform_output: tft.TFTransformOutput, train_files: list[str],
                    settings: TrainingSettings) -> FeatureShapes:
    """The shapes the network is built from: Transform's (`feature_shapes`), plus, for a
    task whose network learns a standardized label, the train split's label mean and
    spread."""
    shapes = feature_shapes(transform_output, settings)
    if not task_named(shapes.task).scales_label:
        return shapes
    mean, std = label_statistics(train_files, settings.label_name)
    return dataclasses.replace(shapes, label_mean=mean, label_std=std)
