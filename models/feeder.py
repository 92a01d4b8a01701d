"""The tf.data input pipeline that feeds training and evaluation.

Built on tfx-bsl's data accessor, which reads the TFRecords Transform wrote with parallel
interleaved reads and parallel parsing of whole batches; we add a seeded shuffle, the
batch size and prefetching so the accelerator never waits for input.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor
from tfx_bsl.public import tfxio

from pipeline.config import TrainingSettings


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
