"""Each task's TensorFlow part (`tasks/<name>/graph.py`), by the task's name: what
Transform and the export import, so that only they load it."""

from __future__ import annotations

from types import ModuleType

from tasks import load_part

GRAPH_MODULES = "tasks.*.graph"


def graph_part(task: str) -> ModuleType:
    """`task`'s label op, class names and serving outputs."""
    return load_part(GRAPH_MODULES, task)
