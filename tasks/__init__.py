"""The tasks the pipeline learns, found by their folders: `tasks/<name>/spec.py` defines
`TASK` (see tasks/base.py for what a task is and its three parts).

Importing this package loads only the specs, which are plain Python, so the configuration
checks may read any task without loading Keras or TensorFlow. Adding a task is adding a
folder; nothing here or elsewhere lists the tasks.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from tasks.base import Task

# The module of each task's spec, as a pattern: `*` is a task's folder. The code
# fingerprints (pipeline/fingerprint.py) follow such patterns like module names.
SPEC_MODULES = "tasks.*.spec"


def modules_matching(pattern: str) -> dict[str, str]:
    """Task name -> module name, for each task folder holding the module `pattern` names
    ("tasks.*.model"), in alphabetical order of the folders."""
    package, star, inner = pattern.partition(".*.")
    if package != __name__ or not star:
        raise ValueError(f"{pattern!r} is not of the form '{__name__}.*.MODULE'.")
    root = Path(__file__).resolve().parent
    return {folder.name: f"{package}.{folder.name}.{inner}"
            for folder in sorted(root.iterdir())
            if (folder / f"{inner.replace('.', '/')}.py").is_file()}


def load_part(pattern: str, task: str) -> ModuleType:
    """The module of `task` that `pattern` names (a task's model or graph part)."""
    modules = modules_matching(pattern)
    if task not in modules:
        raise KeyError(f"Unknown task {task!r}; known: {', '.join(modules)}.")
    return importlib.import_module(modules[task])


TASKS: dict[str, Task] = {name: importlib.import_module(module).TASK
                          for name, module in modules_matching(SPEC_MODULES).items()}


def task_named(name: str) -> Task:
    """The task called `name`; KeyError naming the known ones otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"Unknown task {name!r}; known: {', '.join(TASKS)}.") from None
