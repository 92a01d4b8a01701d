"""The architecture registry: each module of models/architectures/ is an architecture, named
by its file, with a `build(shapes, settings)` function.

`architecture` (a setting) picks one by that name, so adding a network is one new file in
models/architectures/; nothing else in the pipeline changes. Names are found by listing
the folder, not by importing every module, so that validating a configuration does not
import TensorFlow; the Trainer's code fingerprint follows the pattern below
(pipeline/fingerprint.py reads module patterns given as strings).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.storage import local_files

if TYPE_CHECKING:  # for type hints only: this module must not import TensorFlow
    import keras

    from models.shapes import FeatureShapes
    from pipeline.settings import TrainingSettings

ARCHITECTURE_MODULES = "models.architectures.*"


@local_files
def architecture_names() -> tuple[str, ...]:
    """Every architecture, by its module's name, in alphabetical order (read from this
    package's own folder, which is local wherever the code runs)."""
    folder = Path(__file__).resolve().parent / "architectures"
    return tuple(sorted(path.stem for path in folder.glob("*.py")
                        if not path.stem.startswith("_")))


def build_model(name: str, shapes: FeatureShapes, settings: TrainingSettings) -> keras.Model:
    """Builds the named architecture, sized from `shapes`, compiled for training."""
    if name not in architecture_names():
        raise KeyError(f"Unknown architecture {name!r}; registered: "
                       f"{', '.join(architecture_names())}.")
    module = importlib.import_module(ARCHITECTURE_MODULES.replace("*", name))
    return module.build(shapes, settings)
