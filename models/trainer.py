"""`run_fn`: the Trainer component's entry point (handed to TFX as `models.trainer.run_fn`)."""

from __future__ import annotations

import dataclasses
import logging
import os
import time

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import keras
import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from models.distribution import (
    chief_only_directories,
    choose_strategy,
    is_chief,
    shard_by_example,
    use_mixed_precision,
)
from models.export import export_serving_model
from models.feeder import build_feeder, training_shapes
from models.package import count_and_fingerprint, history_of, write_model_package
from models.registry import build_model
from pipeline.settings import TrainingPhase, TrainingSettings, training_phases

logger = logging.getLogger(__name__)


PROGRESS_SECONDS = 10.0  # how often a long epoch reports its steps


class EpochRecorder(keras.callbacks.Callback):
    """Logs one line per epoch, and within a long epoch its steps and examples per second
    every PROGRESS_SECONDS (the local runner shows both under the Trainer's progress), and
    keeps a row per epoch for the model package: the phase and its batch size, and what
    training actually did: the optimizer's learning rate and the steps taken."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []
        self.phase: dict[str, float] = {}
        self._epoch_started = 0.0
        self._last_report = 0.0
        self._steps = 0
        self._epoch = 0
        self._steps_per_epoch: int | None = None  # known after the first epoch
        self._examples_per_step = 0

    def start_phase(self, number: int, phase: TrainingPhase, replicas: int = 1) -> None:
        self.phase = {"phase": number, "batch_size": phase.batch_size}
        self._examples_per_step = phase.batch_size * replicas
        self._steps_per_epoch = None  # a new batch size: a new count

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_started = self._last_report = time.monotonic()
        self._steps = 0
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._steps += 1
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_SECONDS:
            self._last_report = now
            of = f" of {self._steps_per_epoch:,}" if self._steps_per_epoch else ""
            rate = self._steps * self._examples_per_step / (now - self._epoch_started)
            logger.info("epoch %d: step %s%s (%s examples/s)", self._epoch,
                        f"{self._steps:,}", of, f"{rate:,.0f}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {name: float(value) for name, value in (logs or {}).items()}
        self.rows.append({"epoch": epoch + 1, **self.phase, **logs,
                          "learning_rate": float(keras.ops.convert_to_numpy(
                              self.model.optimizer.learning_rate)),
                          "steps": self._steps,
                          "seconds": round(time.monotonic() - self._epoch_started, 3)})
        self._steps_per_epoch = self._steps
        metrics = "  ".join(f"{name} {value:.4f}" for name, value in logs.items())
        logger.info("epoch %d/%d (phase %d)  %s", epoch + 1, self.params.get("epochs", 0),
                    self.phase.get("phase", 1), metrics)


def effective_settings(fn_args: FnArgs) -> TrainingSettings:
    """The Trainer's settings (exactly those the pipeline declares it reads, typed), with
    the Tuner's best hyperparameters (when the pipeline tuned) in place of the configured
    values: search-space names are setting names."""
    settings = TrainingSettings.from_dict(fn_args.custom_config["training_settings"],
                                          "Trainer")
    if fn_args.hyperparameters:
        tuned = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters).values
        settings = settings.replace(tuned, "the Tuner's best hyperparameters")
    return settings


def run_fn(fn_args: FnArgs) -> None:
    """Trains the configured architecture on Transform's output, phase by phase, exports it
    for serving and writes the model package beside it (models/package.py).

    Every replica of a multi-worker cluster runs this whole function, since training and
    saving need all of them; only the chief's model and logs are kept.
    """
    settings = effective_settings(fn_args)
    keras.utils.set_random_seed(settings.seed)
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    shapes = training_shapes(transform_output, fn_args.train_files, settings)
    logger.info("Feature shapes: %s", shapes.to_dict())

    strategy = choose_strategy()
    replicas = strategy.num_replicas_in_sync
    mixed_precision = use_mixed_precision(settings.mixed_precision)
    eval_data = shard_by_example(build_feeder(
        fn_args.eval_files, fn_args.data_accessor, transform_output, settings,
        settings.batch_size * replicas, training=False))
    with strategy.scope():
        model = build_model(settings.architecture, shapes, settings)

    with chief_only_directories(strategy, fn_args.serving_model_dir,
                                fn_args.model_run_dir) as (serving_dir, log_dir):
        recorder = EpochRecorder()
        callbacks = [keras.callbacks.TensorBoard(log_dir=log_dir), recorder]
        phases = training_phases(settings)
        started = time.monotonic()
        epochs_done = 0
        for number, phase in enumerate(phases, start=1):
            recorder.start_phase(number, phase, replicas)
            model.optimizer.learning_rate.assign(phase.learning_rate)
            # The same feeder, rebuilt for the phase's batch size.
            train_data = shard_by_example(build_feeder(
                fn_args.train_files, fn_args.data_accessor, transform_output, settings,
                phase.batch_size * replicas, training=True))
            model.fit(train_data, validation_data=eval_data, callbacks=callbacks,
                      initial_epoch=epochs_done, epochs=epochs_done + phase.epochs, verbose=0)
            epochs_done += phase.epochs
        training_seconds = time.monotonic() - started
        export_serving_model(
            model,
            transform_output,
            settings.label_name,
            serving_dir,
            shapes=shapes,
            extra_assets={
                "training_settings": settings.to_dict(),
                "feature_shapes": shapes.to_dict(),
                "training": {
                    "seconds": round(training_seconds, 2),
                    "epochs": epochs_done,
                    "phases": [dataclasses.asdict(phase) for phase in phases],
                    "history": history_of(recorder.rows),
                    "devices": [device.name for device in tf.config.list_logical_devices()],
                    "replicas": replicas,
                    "mixed_precision": mixed_precision,
                    "parameters": model.count_params(),
                },
            },
        )
        if is_chief(strategy):
            dataset = {"feature_shapes": shapes.to_dict(), "splits": {}}
            for split, files in (("train", fn_args.train_files), ("eval", fn_args.eval_files)):
                rows, fingerprint = count_and_fingerprint(files)
                dataset["splits"][split] = {"rows": rows, "sha256": fingerprint}
            package = write_model_package(
                os.path.dirname(serving_dir.rstrip("/")), recorder.rows, settings.to_dict(),
                dataset, log_dir, title=settings.architecture)
            logger.info("Exported serving model to %s; package %s",
                        os.path.abspath(serving_dir), package)
