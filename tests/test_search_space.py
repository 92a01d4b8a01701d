"""The search space as flat configuration, and its keras-tuner declarations."""

from __future__ import annotations

import keras_tuner
import pytest

from pipeline.settings import config_from_dict
from pipeline.settings.loading import load_config
from pipeline.settings.search_space import Dimension, parse_search_space
from pipeline.settings.values import ConfigError
from tests.configs import taxi_config


def test_the_default_space_parses_into_ranges_and_choices() -> None:
    dimensions = {d.name: d for d in parse_search_space(taxi_config().search_space)}
    assert dimensions["learning_rate"] == Dimension("learning_rate", low=0.0003, high=0.01,
                                                    log=True)
    assert dimensions["hidden_units"].choices == ("32", "64,32", "128,64")
    assert dimensions["embedding_dim"].choices == (4, 8, 16)
    assert dimensions["dropout"] == Dimension("dropout", low=0.0, high=0.3)


def test_integer_ranges_and_architecture_choices() -> None:
    (blocks, architecture) = parse_search_space(
        {"transformer_blocks": "1..4", "architecture": "deep | deep_and_cross"})
    assert blocks == Dimension("transformer_blocks", low=1, high=4, integer=True)
    assert architecture.choices == ("deep", "deep_and_cross")


@pytest.mark.parametrize("space, problem", [
    ({"batch_size": "64 | 128"}, "'batch_size' cannot be searched"),
    ({"learning_rate": "0.01..0.001"}, "needs low < high"),
    ({"learning_rate": "0..0.01 log"}, "low > 0 for log"),
    ({"dropout": "0.2"}, "give a range 'low..high'"),
    ({"dropout": "0.1..0.3 cubic"}, "give a range 'low..high'"),
    ({"hidden_units": "64,32 | wide"}, "hidden_units='wide' is not a list of int"),
    ({"architecture": "deep | resnet"}, "'resnet' is not a registered architecture"),
    ({"embedding_dim": "4 | "}, "choices are separated by '|'"),
])
def test_bad_spaces_are_refused_naming_the_setting(space: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_search_space(space)


def test_a_search_is_validated_with_the_configuration() -> None:
    with pytest.raises(ConfigError, match="hyperparameter_search='grid' is not allowed"):
        load_config(["--hyperparameter_search=grid"], environ={})
    with pytest.raises(ConfigError, match="cannot be searched"):
        load_config(["--hyperparameter_search=random", '--search_space={"seed": "1..9"}'],
                    environ={})
    with pytest.raises(ConfigError, match="needs a search_space"):
        load_config(["--hyperparameter_search=random", "--search_space={}"], environ={})
    config = load_config(["--variant=tuned"], environ={})
    assert config.hyperparameter_search == "bayesian"


def test_dimensions_become_keras_tuner_hyperparameters() -> None:
    from models.tuning import declare

    hyperparameters = keras_tuner.HyperParameters()
    values = {d.name: declare(hyperparameters, d) for d in parse_search_space(
        {"learning_rate": "0.001..0.1 log", "hidden_units": "8 | 16,8", "cross_layers": "1..3"})}
    assert values == {"learning_rate": 0.001, "hidden_units": "8", "cross_layers": 1}
    space = {hp.name: hp for hp in hyperparameters.space}
    assert isinstance(space["learning_rate"], keras_tuner.engine.hyperparameters.Float)
    assert space["learning_rate"].sampling == "log" and space["cross_layers"].max_value == 3
    # A trial's values are settings the configuration accepts as they are.
    trial = config_from_dict({"hidden_units": "16,8", "learning_rate": 0.01})
    assert trial.hidden_units == (16, 8)
