"""The architecture registry: each architecture module registers a builder under a name.

`PipelineConfig.architecture` picks one by that name, so adding a network is one new
file in models/ plus one import line below; nothing else in the pipeline changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

    from pipeline.config import PipelineConfig
    from preprocessing import FeatureShapes

ModelBuilder = Callable[["FeatureShapes", "PipelineConfig"], "keras.Model"]

# Names are listed here (not discovered by importing every module) so that validating a
# configuration does not import TensorFlow.
_MODULES: dict[str, str] = {
    "deep": "models.deep",
    "wide_and_deep": "models.wide_and_deep",
    "deep_and_cross": "models.deep_and_cross",
    "feature_transformer": "models.feature_transformer",
}


def architecture_names() -> tuple[str, ...]:
    return tuple(_MODULES)


def build_model(name: str, shapes: FeatureShapes, config: PipelineConfig) -> keras.Model:
    """Builds the named architecture, sized from `shapes`, compiled for training."""
    import importlib

    if name not in _MODULES:
        raise KeyError(f"Unknown architecture {name!r}; registered: {', '.join(_MODULES)}.")
    module = importlib.import_module(_MODULES[name])
    return module.build(shapes, config)
