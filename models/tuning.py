"""`tuner_fn`: the Tuner component's entry point (handed to TFX as `models.tuning.tuner_fn`).

keras-tuner searches the configured space (pipeline/settings/search_space.py) with one of its
oracles; each trial builds the configured architecture through the same registry, on the
same feeder, as the Trainer. Hyperparameter names are setting names, so the Trainer
applies the best values over its configuration unchanged (models/trainer.py).
keras-tuner needs Keras 3 models, which is what models/ builds.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import keras
import keras_tuner
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from models.distribution import choose_strategy, use_mixed_precision
from models.feeder import build_feeder, count_examples, training_shapes
from models.registry import build_model
from models.sizing import size_training
from pipeline.settings import TrainingSettings, TunerSettings
from pipeline.settings.search_space import Dimension, parse_search_space
from tasks import task_named


def objective(task: str) -> keras_tuner.Objective:
    """The task's Keras metric on the validation split (tasks/<name>/spec.py), in its direction."""
    spec = task_named(task)
    return keras_tuner.Objective(f"val_{spec.tuner_objective}",
                                 direction="min" if spec.tuner_objective_lower_is_better
                                 else "max")


def declare(hyperparameters: keras_tuner.HyperParameters, dimension: Dimension
            ) -> str | int | float:
    """Declares `dimension` to keras-tuner and returns the trial's value for it."""
    if dimension.choices:
        return hyperparameters.Choice(dimension.name, list(dimension.choices))
    sampling = "log" if dimension.log else "linear"
    if dimension.integer:
        return hyperparameters.Int(dimension.name, int(dimension.low), int(dimension.high),
                                   sampling=sampling)
    return hyperparameters.Float(dimension.name, dimension.low, dimension.high,
                                 sampling=sampling)


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """Builds the keras-tuner tuner and the fit arguments TFX's Tuner runs it with."""
    tuner_settings = TunerSettings.from_dict(fn_args.custom_config["tuner_settings"], "Tuner")
    # A trial trains the Trainer's model: the same settings, searched values in place.
    settings = TrainingSettings.from_config(tuner_settings)
    # Before any TensorFlow op runs: a multi-worker strategy configures collectives first.
    strategy = choose_strategy()
    # Sized to the table as the Trainer sizes it; a searched value replaces the size's.
    settings, _ = size_training(settings, count_examples(fn_args.train_files))
    keras.utils.set_random_seed(settings.seed)
    transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    shapes = training_shapes(transform_output, fn_args.train_files, settings)
    dimensions = parse_search_space(tuner_settings.search_space)

    def build_trial_model(hyperparameters: keras_tuner.HyperParameters) -> keras.Model:
        values = {dimension.name: declare(hyperparameters, dimension)
                  for dimension in dimensions}
        trial = settings.replace(values, "search trial")
        return build_model(trial.architecture, shapes, trial)

    use_mixed_precision(settings.mixed_precision)
    common = {
        "hypermodel": build_trial_model,
        "objective": objective(settings.task),
        "seed": settings.seed,
        "directory": fn_args.working_dir,
        "project_name": "search",
        "overwrite": True,
        # keras-tuner's own default; named so several devices are used when present.
        "distribution_strategy": strategy if strategy.num_replicas_in_sync > 1 else None,
    }
    algorithm = tuner_settings.hyperparameter_search
    if algorithm == "random":
        tuner = keras_tuner.RandomSearch(max_trials=tuner_settings.search_trials, **common)
    elif algorithm == "bayesian":
        tuner = keras_tuner.BayesianOptimization(max_trials=tuner_settings.search_trials,
                                                 **common)
    elif algorithm == "hyperband":
        tuner = keras_tuner.Hyperband(max_epochs=tuner_settings.search_epochs, factor=3,
                                      hyperband_iterations=1, **common)
    else:
        raise ValueError(f"hyperparameter_search={algorithm!r} is not a search algorithm.")

    batch_size = settings.batch_size * strategy.num_replicas_in_sync
    train_data = build_feeder(fn_args.train_files, fn_args.data_accessor, transform_output,
                              settings, batch_size, training=True)
    eval_data = build_feeder(fn_args.eval_files, fn_args.data_accessor, transform_output,
                             settings, batch_size, training=False)
    return TunerFnResult(tuner=tuner, fit_kwargs={
        "x": train_data, "validation_data": eval_data, "epochs": tuner_settings.search_epochs,
        "verbose": 0})
