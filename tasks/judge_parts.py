"""Each task's judging part (`tasks/<name>/judge.py`), by the task's name: what the
Evaluator's config and the report import, so that only they load TFMA's metrics and the
report's pictures for a task."""

from __future__ import annotations

from types import ModuleType

from tasks import load_part

JUDGE_MODULES = "tasks.*.judge"


def judge_part(task: str) -> ModuleType:
    """`task`'s Evaluator metrics and report sections."""
    return load_part(JUDGE_MODULES, task)
