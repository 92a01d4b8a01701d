"""`tuner_fn`: the Tuner component's entry point (handed to TFX as `models.tuning.tuner_fn`).

keras-tuner searches the configured space (pipeline/search_space.py) with one of its
oracles; each trial builds the configured architecture through the same registry, on the
same feeder, as the Trainer. Hyperparameter names are setting names, so the Trainer
applies the best values over its configuration unchanged (models/trainer.py).
keras-tuner needs Keras 3 models, which is what models/ builds.
"""

from __future__ import annotations

# isort: off
import pipeline  # noqa: F401 - selects Keras before TensorFlow loads
# isort: on
import keras
import keras_tuner
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from models.distribution import choose_strategy
from models.feeder import build_feeder
from models.registry import build_model
from pipeline.config import PipelineConfig
from pipeline.search_space import Dimension, parse_search_space
from preprocessing import feature_shapes

OBJECTIVE = keras_tuner.Objective("val_auc", direction="max")


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


def search_settings(config: PipelineConfig) -> dict:
    """The Tuner's custom_config entry: what to search and how long."""
    return {"algorithm": config.hyperparameter_search, "space": dict(config.search_space),
            "trials": config.search_trials, "epochs": config.search_epochs}


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """Builds the keras-tuner tuner and the fit arguments TFX's Tuner runs it with."""
    settings = fn_args.custom_config["training_settings"]
    search = fn_args.custom_config["search"]
    config = PipelineConfig.from_dict(settings, "Tuner")
    keras.utils.set_random_seed(config.seed)
    transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    shapes = feature_shapes(transform_output, config)
    dimensions = parse_search_space(search["space"])

    def build_trial_model(hyperparameters: keras_tuner.HyperParameters) -> keras.Model:
        values = {dimension.name: declare(hyperparameters, dimension)
                  for dimension in dimensions}
        trial_config = PipelineConfig.from_dict({**settings, **values}, "search trial")
        return build_model(trial_config.architecture, shapes, trial_config)

    strategy = choose_strategy()
    common = {
        "hypermodel": build_trial_model,
        "objective": OBJECTIVE,
        "seed": config.seed,
        "directory": fn_args.working_dir,
        "project_name": "search",
        "overwrite": True,
        # keras-tuner's own default; named so several devices are used when present.
        "distribution_strategy": strategy if strategy.num_replicas_in_sync > 1 else None,
    }
    algorithm = search["algorithm"]
    if algorithm == "random":
        tuner = keras_tuner.RandomSearch(max_trials=search["trials"], **common)
    elif algorithm == "bayesian":
        tuner = keras_tuner.BayesianOptimization(max_trials=search["trials"], **common)
    elif algorithm == "hyperband":
        tuner = keras_tuner.Hyperband(max_epochs=search["epochs"], factor=3,
                                      hyperband_iterations=1, **common)
    else:
        raise ValueError(f"hyperparameter_search={algorithm!r} is not a search algorithm.")

    batch_size = config.batch_size * strategy.num_replicas_in_sync
    train_data = build_feeder(fn_args.train_files, fn_args.data_accessor, transform_output,
                              config, batch_size, training=True)
    eval_data = build_feeder(fn_args.eval_files, fn_args.data_accessor, transform_output,
                             config, batch_size, training=False)
    return TunerFnResult(tuner=tuner, fit_kwargs={
        "x": train_data, "validation_data": eval_data, "epochs": search["epochs"],
        "verbose": 0})
