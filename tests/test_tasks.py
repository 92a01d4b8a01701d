"""The task table and what reads it without running a pipeline: the Tuner's objective,
train-all's ranking, the tables that pick their columns from an evaluation."""

from __future__ import annotations

from evaluation.results import task_of_metrics
from pipeline.orchestration.run_summary import metrics_table
from pipeline.orchestration.train_all import best_first, columns, comparison_table
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
