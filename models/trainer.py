"""`run_fn`: the Trainer component's entry point (handed to TFX as `models.trainer.run_fn`)."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import keras
import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from models.distribution import (
    ChiefLogs,
    build_from_batch,
    built_once,
    chief_only_directories,
    choose_strategy,
    endless_epochs,
    is_chief,
    shard_by_example,
    use_mixed_precision,
    wait_for_chief_model,
)
from models.export import export_serving_model
from models.feeder import build_feeder, count_examples, training_shapes
from models.package import count_and_fingerprint, history_of, write_model_package
from models.registry import build_model
from models.sizing import Sizing, size_training
from models.warm_start import warm_start
from pipeline.settings import (
    TRAIN_SPLIT,
    VALIDATION_SPLIT,
    TrainingPhase,
    TrainingSettings,
    training_phases,
)

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


class LearningRateControl(keras.callbacks.Callback):
    """The learning rate of a run sized to its table (models/sizing.py): a linear warm-up
    to the phase's rate over the first `warmup_steps` steps, then, with `plateau_epochs`,
    half the rate each time the validation loss has not improved for that many epochs
    (never below 1/64 of the peak). One callback, since Keras's ReduceLROnPlateau would
    fight a warm-up over the same variable."""

    def __init__(self, warmup_steps: int, plateau_epochs: int | None) -> None:
        super().__init__()
        self.warmup_steps = warmup_steps
        self.plateau_epochs = plateau_epochs
        self.peak = 0.0
        self._step = 0
        self._best = float("inf")
        self._waited = 0

    def start_phase(self, learning_rate: float) -> None:
        self.peak = learning_rate

    def _set(self, value: float) -> None:
        self.model.optimizer.learning_rate.assign(value)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._step < self.warmup_steps:
            self._set(self.peak * (self._step + 1) / self.warmup_steps)
        elif self._step == self.warmup_steps:
            self._set(self.peak)
        self._step += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("val_loss")
        if self.plateau_epochs is None or loss is None:
            return
        if loss < self._best:
            self._best, self._waited = float(loss), 0
            return
        self._waited += 1
        if self._waited >= self.plateau_epochs:
            self._waited = 0
            current = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            if current / 2 >= self.peak / 64:
                self._set(current / 2)
                logger.info("validation loss flat for %d epochs: learning rate %.2g",
                            self.plateau_epochs, current / 2)


def training_callbacks(sizing: Sizing) -> tuple[LearningRateControl, list[Any]]:
    """The learning-rate control and, when training stops on validation, Keras's early
    stopping, which restores the best epoch's weights at the end."""
    control = LearningRateControl(
        sizing.warmup_steps,
        max(2, sizing.patience // 2) if sizing.early_stopping else None)
    callbacks: list[Any] = [control]
    if sizing.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=sizing.patience, restore_best_weights=True))
    return control, callbacks


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
    # Before any TensorFlow op runs (counting the rows is one): a multi-worker strategy
    # must configure the runtime's collectives first.
    strategy = choose_strategy()
    settings, sizing = size_training(settings, count_examples(fn_args.train_files))
    logger.info("Training sized to %s train rows: %s", f"{sizing.train_rows:,}",
                "; ".join(f"{name} {how}" for name, how in sizing.chosen.items()))
    keras.utils.set_random_seed(settings.seed)
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    shapes = training_shapes(transform_output, fn_args.train_files, settings)
    logger.info("Feature shapes: %s", shapes.to_dict())

    replicas = strategy.num_replicas_in_sync
    mixed_precision = use_mixed_precision(settings.mixed_precision)
    validation_data = shard_by_example(build_feeder(
        fn_args.eval_files, fn_args.data_accessor, transform_output, settings,
        settings.batch_size * replicas, training=False))
    with strategy.scope():
        model = built_once(build_model(settings.architecture, shapes, settings))
        started_from = warm_start(model, fn_args.base_model, settings, shapes,
                                  transform_output)
    logger.info("Initial weights: %s", started_from.describe())
    validation_steps = None
    if replicas > 1:  # one distributed iterator for every epoch, see endless_epochs
        build_from_batch(model, validation_data)
        validation_data, validation_steps = endless_epochs(
            validation_data, count_examples(fn_args.eval_files), settings.batch_size * replicas)

    with chief_only_directories(strategy, fn_args.serving_model_dir,
                                fn_args.model_run_dir) as (serving_dir, log_dir):
        recorder = EpochRecorder()
        control, sizing_callbacks = training_callbacks(sizing)
        # The recorder first: it reads each epoch's learning rate before the control
        # changes it for the next.
        callbacks = [ChiefLogs(strategy), keras.callbacks.TensorBoard(log_dir=log_dir),
                     recorder, *sizing_callbacks]
        phases = training_phases(settings)
        started = time.monotonic()
        epochs_done = 0
        for number, phase in enumerate(phases, start=1):
            recorder.start_phase(number, phase, replicas)
            model.optimizer.learning_rate.assign(phase.learning_rate)
            control.start_phase(phase.learning_rate)
            # The same feeder, rebuilt for the phase's batch size.
            train_data = shard_by_example(build_feeder(
                fn_args.train_files, fn_args.data_accessor, transform_output, settings,
                phase.batch_size * replicas, training=True))
            steps_per_epoch = None
            if replicas > 1:
                train_data, steps_per_epoch = endless_epochs(
                    train_data, sizing.train_rows, phase.batch_size * replicas)
            history = model.fit(train_data, validation_data=validation_data, callbacks=callbacks,
                                initial_epoch=epochs_done, epochs=epochs_done + phase.epochs,
                                steps_per_epoch=steps_per_epoch,
                                validation_steps=validation_steps, verbose=0)
            epochs_done += len(history.epoch)
        training_seconds = time.monotonic() - started
        best_epoch = _best_epoch(recorder.rows) if sizing.early_stopping else epochs_done
        if sizing.early_stopping:
            logger.info("Stopped after %d epochs; kept epoch %d's weights (the lowest "
                        "validation loss)", epochs_done, best_epoch)
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
                    # The epoch whose weights were exported: the best on validation when
                    # training stopped on it, else the last.
                    "best_epoch": best_epoch,
                    "sizing": sizing.to_dict(),
                    "phases": [dataclasses.asdict(phase) for phase in phases],
                    "history": history_of(recorder.rows),
                    "devices": [device.name for device in tf.config.list_logical_devices()],
                    "replicas": replicas,
                    "mixed_precision": mixed_precision,
                    "parameters": model.count_params(),
                    "warm_start": started_from.to_dict(),
                },
            },
        )
        if is_chief(strategy):
            dataset = {"feature_shapes": shapes.to_dict(), "splits": {}}
            for split, files in ((TRAIN_SPLIT, fn_args.train_files),
                                 (VALIDATION_SPLIT, fn_args.eval_files)):
                rows, fingerprint = count_and_fingerprint(files)
                dataset["splits"][split] = {"rows": rows, "sha256": fingerprint}
            package = write_model_package(
                os.path.dirname(serving_dir.rstrip("/")), recorder.rows, settings.to_dict(),
                dataset, log_dir, title=settings.architecture)
            logger.info("Exported serving model to %s; package %s", serving_dir, package)
    if not is_chief(strategy):
        waited = wait_for_chief_model(fn_args.serving_model_dir)
        logger.info("Worker done; the chief's model is at %s (waited %.1f s)",
                    fn_args.serving_model_dir, waited)


def _best_epoch(rows: list[dict[str, float]]) -> int:
    """The epoch (1-based) with the lowest validation loss: the one early stopping keeps."""
    scored = [row for row in rows if "val_loss" in row]
    return int(min(scored, key=lambda row: row["val_loss"])["epoch"]) if scored else len(rows)
