"""`run_fn` end to end on real Transform output: the phased schedule, the Tuner's
hyperparameters, and the model package written beside the SavedModel."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from pathlib import Path

import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

from models.export import EXTRA_ASSETS_DIRECTORY
from models.package import PACKAGE_DIRECTORY, PACKAGE_ZIP
from models.trainer import run_fn
from pipeline.settings import PipelineConfig, TrainingPhase, TrainingSettings, training_phases
from pipeline.settings.loading import validate
from pipeline.settings.values import ConfigError
from tests.configs import taxi_config
from tests.conftest import EVAL_ROWS, TRAIN_ROWS
from tests.trainer_harness import trainer_fn_args

PHASED = taxi_config(hidden_units=(8,), embedding_dim=4, batch_size=50, learning_rate=0.01,
                     schedule_epochs=(2, 1), schedule_learning_rate_factors=(1.0, 0.25),
                     schedule_batch_size_factors=(1, 4))


def train(trainer_inputs: dict[str, str], directory: Path, config: PipelineConfig,
          hyperparameters: dict | None = None) -> Path:
    """Runs `run_fn` as TFX's Trainer would; returns the Model artifact directory."""
    fn_args = trainer_fn_args({**trainer_inputs, "model": str(directory / "model"),
                               "model_run": str(directory / "model_run"),
                               "training_settings": TrainingSettings.from_config(config).to_dict()})
    fn_args.hyperparameters = hyperparameters
    run_fn(fn_args)
    return directory / "model"


@pytest.fixture(scope="module")
def phased_model(trainer_inputs: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                 ) -> Path:
    return train(trainer_inputs, tmp_path_factory.mktemp("phased"), PHASED)


def test_schedule_phases_scale_the_base_rate_and_batch() -> None:
    assert training_phases(PHASED) == (TrainingPhase(2, 0.01, 50), TrainingPhase(1, 0.0025, 200))
    assert training_phases(taxi_config(epochs=3, learning_rate=0.003, batch_size=256)) == (
        TrainingPhase(3, 0.003, 256),)


@pytest.mark.parametrize("overrides, problem", [
    ({"schedule_epochs": (2, 2), "schedule_learning_rate_factors": (1.0,),
      "schedule_batch_size_factors": (1, 2)}, "one entry per phase"),
    ({"schedule_epochs": (2,), "schedule_learning_rate_factors": (0.0,),
      "schedule_batch_size_factors": (1,)}, "must be positive"),
])
def test_inconsistent_schedules_are_refused(overrides: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        validate(taxi_config(**overrides))


def test_each_phase_trains_with_its_rate_and_batch_size(phased_model: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(
        (phased_model / PACKAGE_DIRECTORY / "metrics.csv").read_text())))
    assert [(row["epoch"], row["phase"], row["batch_size"]) for row in rows] == [
        ("1", "1", "50"), ("2", "1", "50"), ("3", "2", "200")]
    # What training did, not what was planned: the optimizer's own learning rate at the end
    # of each epoch, and the steps the feeder gave (400 train rows in batches of 50, then
    # of 200).
    assert [float(row["learning_rate"]) for row in rows] == pytest.approx([0.01, 0.01, 0.0025])
    assert [int(row["steps"]) for row in rows] == [
        math.ceil(TRAIN_ROWS / 50), math.ceil(TRAIN_ROWS / 50), math.ceil(TRAIN_ROWS / 200)]
    # Train and eval values of every metric, each epoch.
    assert {"loss", "auc", "accuracy", "val_loss", "val_auc", "val_accuracy"} <= set(rows[0])
    assert all(0 < float(row["val_auc"]) <= 1 for row in rows)

    training = json.loads((phased_model / "Format-Serving" / EXTRA_ASSETS_DIRECTORY /
                           "training.json").read_text())
    assert training["epochs"] == 3 and len(training["history"]["val_loss"]) == 3
    assert [phase["batch_size"] for phase in training["phases"]] == [50, 200]


def test_the_package_holds_curves_logs_config_and_dataset(phased_model: Path) -> None:
    package = phased_model / PACKAGE_DIRECTORY
    assert (package / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((package / "tensorboard").rglob("events.out.tfevents.*"))
    config = json.loads((package / "config.json").read_text())
    assert config["schedule_epochs"] == [2, 1] and config["hidden_units"] == [8]
    dataset = json.loads((package / "dataset.json").read_text())
    assert dataset["splits"]["train"]["rows"] == TRAIN_ROWS
    assert dataset["splits"]["validation"]["rows"] == EVAL_ROWS
    assert len(dataset["splits"]["train"]["sha256"]) == 64
    assert dataset["feature_shapes"]["categorical_cardinalities"]["payment_type"] > 1

    with zipfile.ZipFile(phased_model / PACKAGE_ZIP) as bundle:
        names = set(bundle.namelist())
        assert {"package/metrics.csv", "package/curves.png", "package/config.json",
                "package/dataset.json", "Format-Serving/saved_model.pb"} <= names
        assert any(name.startswith("package/tensorboard/") for name in names)
        assert bundle.read("package/metrics.csv") == (package / "metrics.csv").read_bytes()
    # The zipped SavedModel is the one that serves.
    assert "serving_default" in tf.saved_model.load(
        str(phased_model / "Format-Serving")).signatures


def test_tuned_hyperparameters_replace_configured_values(trainer_inputs: dict[str, str],
                                                         tmp_path: Path) -> None:
    hyperparameters = keras_tuner.HyperParameters()
    hyperparameters.Choice("hidden_units", ["16,8"])
    hyperparameters.Fixed("learning_rate", 0.02)
    config = taxi_config(hidden_units=(8,), embedding_dim=4, batch_size=100, epochs=1)
    model = train(trainer_inputs, tmp_path, config, hyperparameters.get_config())
    used = json.loads((model / PACKAGE_DIRECTORY / "config.json").read_text())
    assert used["hidden_units"] == [16, 8] and used["learning_rate"] == 0.02
    rows = list(csv.DictReader(io.StringIO(
        (model / PACKAGE_DIRECTORY / "metrics.csv").read_text())))
    assert float(rows[0]["learning_rate"]) == pytest.approx(0.02)  # the optimizer's


def test_run_fn_refuses_settings_it_does_not_read(trainer_inputs: dict[str, str],
                                                  tmp_path: Path) -> None:
    """The Trainer gets exactly its settings: an extra one (a setting it would silently
    ignore) or a missing one (which it would silently default) stops it."""
    sent = TrainingSettings.from_config(taxi_config()).to_dict()
    for settings, problem in (({**sent, "blessing_thresholds": {"auc": 0.9}},
                                "does not read: blessing_thresholds"),
                              ({k: v for k, v in sent.items() if k != "epochs"},
                               "lacks epochs")):
        fn_args = trainer_fn_args({**trainer_inputs, "model": str(tmp_path / "model"),
                                   "model_run": str(tmp_path / "run"),
                                   "training_settings": settings})
        with pytest.raises(ConfigError, match=problem):
            run_fn(fn_args)


def test_auto_training_stops_on_validation_and_exports_the_best_epoch(
        trainer_inputs: dict[str, str], tmp_path: Path) -> None:
    """epochs=auto: sized to the 400 train rows, training stops `patience` epochs after
    the lowest validation loss, and the served model is that epoch's, not the last:
    its loss on the validation rows, through the serving signature, is the best epoch's
    recorded val_loss."""
    from models.sizing import auto_batch_size, auto_learning_rate
    from tests.helpers import sample_rows, serialized_examples

    config = taxi_config(hidden_units=(32,), embedding_dim=4, patience=2,
                         training_example_budget=100 * TRAIN_ROWS)
    assert (config.epochs, config.batch_size, config.learning_rate) == ("auto",) * 3
    model = train(trainer_inputs, tmp_path, config)
    assets = model / "Format-Serving" / EXTRA_ASSETS_DIRECTORY
    training = json.loads((assets / "training.json").read_text())
    sizing = training["sizing"]
    assert (sizing["train_rows"], sizing["batch_size"]) == (TRAIN_ROWS,
                                                            auto_batch_size(TRAIN_ROWS))
    assert sizing["learning_rate"] == pytest.approx(auto_learning_rate(sizing["batch_size"]))
    assert sizing["early_stopping"] and sizing["max_epochs"] == 100
    # The resolved numbers are what training_settings.json records.
    recorded = json.loads((assets / "training_settings.json").read_text())
    assert recorded["batch_size"] == sizing["batch_size"] and recorded["epochs"] == 100
    losses = training["history"]["val_loss"]
    epochs, best = training["epochs"], training["best_epoch"]
    assert len(losses) == epochs < 100  # it stopped early
    assert best == 1 + int(np.argmin(losses)) and epochs == best + 2  # patience 2
    assert losses[-1] > losses[best - 1]
    rows = list(csv.DictReader(io.StringIO(
        (model / PACKAGE_DIRECTORY / "metrics.csv").read_text())))
    assert len(rows) == epochs and {int(row["batch_size"]) for row in rows} == {
        sizing["batch_size"]}
    # The exported weights: the best epoch's validation loss, recomputed from serving.
    validation = sample_rows(TRAIN_ROWS + EVAL_ROWS)[TRAIN_ROWS:]
    examples = serialized_examples(config, validation)
    labels = np.array([float(tf.train.Example.FromString(example).features
                             .feature[config.label_name].int64_list.value[0])
                       for example in examples])
    served = tf.saved_model.load(str(model / "Format-Serving")).signatures["serving_default"]
    probability = served(examples=tf.constant(examples))["probability"].numpy().reshape(-1)
    probability = np.clip(probability, 1e-7, 1 - 1e-7)
    loss = -np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability))
    assert loss == pytest.approx(losses[best - 1], rel=1e-3)
    assert abs(loss - losses[-1]) > 1e-3 * losses[-1]
