"""`run_fn`: the Trainer component's entry point (handed to TFX as `models.trainer.run_fn`)."""

from __future__ import annotations

import logging
import os
import time

# isort: off
import pipeline  # noqa: F401 - selects Keras before TensorFlow loads
# isort: on
import keras
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from models.distribution import (
    chief_only_directories,
    choose_strategy,
    is_chief,
    shard_by_example,
)
from models.export import export_serving_model
from models.feeder import build_feeder
from models.registry import build_model
from pipeline.config import PipelineConfig
from preprocessing import feature_shapes

logger = logging.getLogger(__name__)

# The settings that change the trained model. Only these reach the Trainer, so that
# changing, say, an evaluation threshold re-runs the Evaluator but not the training.
TRAINING_SETTINGS = (
    "numeric_features", "bucketized_features", "categorical_features", "bucket_count",
    "oov_buckets", "label_name", "architecture", "hidden_units", "embedding_dim", "dropout",
    "cross_layers", "attention_heads", "transformer_blocks",
    "learning_rate", "batch_size", "epochs", "shuffle_buffer", "seed",
)


def training_settings(config: PipelineConfig) -> dict:
    """The part of `config` that `run_fn` reads (the Trainer's custom_config)."""
    return {key: value for key, value in config.to_dict().items() if key in TRAINING_SETTINGS}


class EpochLog(keras.callbacks.Callback):
    """One log line per epoch (the local runner shows it under the Trainer's progress)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = "  ".join(f"{name} {value:.4f}" for name, value in (logs or {}).items())
        logger.info("epoch %d/%d  %s", epoch + 1, self.params.get("epochs", 0), metrics)


def run_fn(fn_args: FnArgs) -> None:
    """Trains the configured architecture on Transform's output and exports it for serving.

    Every replica of a multi-worker cluster runs this whole function, since training and
    saving need all of them; only the chief's model and logs are kept.
    """
    settings = fn_args.custom_config["training_settings"]
    config = PipelineConfig.from_dict(settings, "Trainer")
    keras.utils.set_random_seed(config.seed)
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    shapes = feature_shapes(transform_output, config)
    logger.info("Feature shapes: %s", shapes.to_dict())

    strategy = choose_strategy()
    batch_size = config.batch_size * strategy.num_replicas_in_sync
    train_data = shard_by_example(build_feeder(
        fn_args.train_files, fn_args.data_accessor, transform_output, config, batch_size,
        training=True))
    eval_data = shard_by_example(build_feeder(
        fn_args.eval_files, fn_args.data_accessor, transform_output, config, batch_size,
        training=False))
    with strategy.scope():
        model = build_model(config.architecture, shapes, config)

    with chief_only_directories(strategy, fn_args.serving_model_dir,
                                fn_args.model_run_dir) as (serving_dir, log_dir):
        started = time.monotonic()
        history = model.fit(
            train_data,
            validation_data=eval_data,
            epochs=config.epochs,
            callbacks=[keras.callbacks.TensorBoard(log_dir=log_dir), EpochLog()],
            verbose=0,
        )
        training_seconds = time.monotonic() - started
        export_serving_model(
            model,
            transform_output,
            config.label_name,
            serving_dir,
            extra_assets={
                "training_settings": settings,
                "feature_shapes": shapes.to_dict(),
                "training": {
                    "seconds": round(training_seconds, 2),
                    "epochs": config.epochs,
                    "history": {key: [float(v) for v in values]
                                for key, values in history.history.items()},
                    "devices": [device.name for device in tf.config.list_logical_devices()],
                    "replicas": strategy.num_replicas_in_sync,
                },
            },
        )
    if is_chief(strategy):
        logger.info("Exported serving model to %s", os.path.abspath(serving_dir))
