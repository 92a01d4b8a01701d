"""The task table and what reads it without running a pipeline: the Tuner's objective,
train-all's ranking, the tables that pick their columns from an evaluation."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from evaluation.results import task_of_metrics
from pipeline.orchestration.run_summary import metrics_table
from pipeline.orchestration.train_all import best_first, columns, comparison_table
from pipeline.settings import REPOSITORY_ROOT
from tasks import TASKS, task_named


def test_every_task_gates_on_metrics_it_computes_in_a_known_direction() -> None:
    for task in TASKS.values():
        assert task.ranking_metric in task.gating_metrics
        assert set(task.blessing_thresholds) | set(task.change_thresholds) <= set(
            task.gating_metrics)
        assert task.summary_metrics[0] == "example_count"
        assert task.ranking_metric == task.summary_metrics[1]
    assert task_named("regression").direction("rmse") == "lower is better"


def test_the_tuner_optimizes_the_task_objective_in_its_direction() -> None:
    from models.tuning import objective

    assert (objective("binary").name, objective("binary").direction) == ("val_auc", "max")
    assert (objective("multiclass").name, objective("multiclass").direction) == (
        "val_accuracy", "max")
    assert (objective("regression").name, objective("regression").direction) == (
        "val_rmse", "min")


def test_train_all_ranks_by_the_task_metric_in_its_direction() -> None:
    rows = [{"variant": "a", "architecture": "deep", "r2": 0.7, "mae": 2.0},
            {"variant": "b", "architecture": "deep", "r2": 0.9, "mae": 1.0},
            {"variant": "c", "architecture": "deep"}]  # failed: no metric, last
    regression = task_named("regression")
    assert [row["variant"] for row in best_first(rows, regression)] == ["b", "a", "c"]
    assert [key for key, _, _ in columns(regression)][2:4] == ["r2", "mae"]
    table = comparison_table(rows, regression).splitlines()
    assert table[0].split()[:4] == ["variant", "architecture", "r2", "mae"]
    assert table[1].split()[0] == "b"


def test_tables_pick_the_task_columns_from_the_evaluation() -> None:
    assert task_of_metrics({"auc": 0.9, "accuracy": 0.8}).name == "binary"
    assert task_of_metrics({"accuracy": 0.9, "log_loss": 0.3}).name == "multiclass"
    assert task_of_metrics({"r2": 0.5, "mae": 1.0}).name == "regression"
    header = metrics_table({"Overall": {"example_count": 10.0, "r2": 0.5, "mae": 1.2,
                                        "rmse": 1.5}}).splitlines()[0]
    assert header.split() == ["slice", *TASKS["regression"].summary_metrics]


# What each part of a task provides (tasks/base.py), checked on every task folder found.
PARTS = {
    "model": ("output_layer", "loss", "metrics"),
    "graph": ("label_op", "class_names", "serving_outputs"),
    "judge": ("evaluator_metrics", "report_labels", "answers", "ranking_score", "ranking_scores",
              "example_losses", "answer_fields", "worst_slices_first", "report_views",
              "report_sections", "SLICE_ORDER_NOTE"),
}


def test_every_task_folder_is_found_and_holds_every_part() -> None:
    import importlib

    folders = sorted(path.parent.name for path in REPOSITORY_ROOT.glob("tasks/*/spec.py"))
    assert folders == sorted(TASKS) and len(folders) >= 3
    for name in TASKS:
        for part, functions in PARTS.items():
            module = importlib.import_module(f"tasks.{name}.{part}")
            missing = [function for function in functions if not hasattr(module, function)]
            assert not missing, f"tasks/{name}/{part}.py lacks {missing}"


def test_each_part_is_loaded_by_the_task_name() -> None:
    from tasks.graph_parts import graph_part
    from tasks.judge_parts import judge_part
    from tasks.model_parts import model_part

    for name in TASKS:
        assert model_part(name).__name__ == f"tasks.{name}.model"
        assert graph_part(name).__name__ == f"tasks.{name}.graph"
        assert judge_part(name).__name__ == f"tasks.{name}.judge"
    with pytest.raises(KeyError, match="Unknown task 'ranking'; known: binary"):
        model_part("ranking")


def test_no_code_outside_the_task_folders_branches_on_a_task_name() -> None:
    """A branch on anything named like a task compared with a task's name (`if task ==
    "binary"`, `... if settings.task in ("a", "b") else ...`), anywhere in the project's
    code outside tasks/ (tests included), belongs in a task's own module."""
    names = set(TASKS)
    found = []
    for path in sorted(REPOSITORY_ROOT.rglob("*.py")):
        relative = path.relative_to(REPOSITORY_ROOT)
        if relative.parts[0] in ("tasks", ".venv", ".venv-bqemulator", "output") or any(
                part.startswith(".") for part in relative.parts):
            continue
        tree = ast.parse(path.read_text())
        conditions = [branch.test for branch in ast.walk(tree)
                      if isinstance(branch, (ast.If, ast.IfExp, ast.While))]
        conditions += [test for branch in ast.walk(tree)
                       if isinstance(branch, ast.comprehension) for test in branch.ifs]
        for node in (item for condition in conditions for item in ast.walk(condition)):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            if not any("task" in ast.unparse(side).lower() for side in sides):
                continue
            constants = {item.value for side in sides for item in ast.walk(side)
                         if isinstance(item, ast.Constant)}
            if constants & names:
                found.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_a_prediction_line_and_its_bigquery_row_follow_the_spec() -> None:
    multiclass = task_named("multiclass")
    [line] = multiclass.prediction_batch({"probabilities": np.array([[0.2, 0.8]]),
                                          "classes": np.array([[b"a", b"b"]], object),
                                          "class": np.array([b"b"], object)})
    assert line == {"class": "b", "probabilities": {"a": 0.2, "b": 0.8}}
    assert [name for name, _ in multiclass.prediction_columns] == list(line)
    assert multiclass.bigquery_row(line)["probabilities"] == '{"a": 0.2, "b": 0.8}'
    binary = task_named("binary")
    assert binary.prediction_batch({"probability": np.array([[0.25]])}) == [
        {"probability": 0.25}]
    assert binary.prediction_key == "probability"  # one spelling: layer, signature, line
