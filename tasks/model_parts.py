"""Each task's Keras part (`tasks/<name>/model.py`), by the task's name: what the networks
in models/ import, so that only they load Keras."""

from __future__ import annotations

from types import ModuleType

from tasks import load_part

MODEL_MODULES = "tasks.*.model"


def model_part(task: str) -> ModuleType:
    """`task`'s output layer, loss and training metrics."""
    return load_part(MODEL_MODULES, task)
