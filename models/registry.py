"""The architecture registry: each architecture module registers a builder under a name.

`architecture` (a setting) picks one by that name, so adding a network is one new
file in models/ with a `build(shapes, settings)` function, plus one line in `_MODULES`
below; nothing else in the pipeline changes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type hints only: this module must not import TensorFlow
    import keras

    from models.shapes import FeatureShapes
    from pipeline.settings import TrainingSettings

# Names are listed here (not discovered by importing every module) so that validating a
# configuration does not import TensorFlow. The code fingerprint of the Trainer follows
# these module names (pipeline/fingerprint.py reads module names given as strings).
_MODULES: dict[str, str] = {
    "deep": "models.deep",
    "wide_and_deep": "models.wide_and_deep",
    "deep_and_cross": "models.deep_and_cross",
    "feature_transformer": "models.feature_transformer",
}


def architecture_names() -> tuple[str, ...]:
    return tuple(_MODULES)


def build_model(name: str, shapes: FeatureShapes, settings: TrainingSettings) -> keras.Model:
    """Builds the named architecture, sized from `shapes`, compiled for training."""
    if name not in _MODULES:
        raise KeyError(f"Unknown architecture {name!r}; registered: {', '.join(_MODULES)}.")
    module = importlib.import_module(_MODULES[name])
    return module.build(shapes, settings)
