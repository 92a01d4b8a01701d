"""Continuous evaluation (`python -m pipeline evaluate-deployed`) on real runs: two models
trained and pushed from testdata/, then judged on a later window of the taxi sample (the
trips testdata/ left out, the latest 2,000), the same rows with their tips shuffled (the
label, `tips > 0.2 * fare`, then means nothing), and the two versions compared A/B."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from evaluation.array_metrics import ModelArrays
from evaluation.monitoring import bootstrap_comparison, metric_changes
from evaluation.results import metrics_by_slice
from pipeline import cli
from pipeline.kinds import ContinuousEvaluation, Node
from pipeline.metadata import lineage
from pipeline.metadata.store import custom_property, latest_run_context, open_store, run_executions
from pipeline.settings.loading import load_config
from testdata.derive_testdata import SOURCE, _kept, typed_cell
from tests.shared_runs import TWO_PUSHED_RUNS

pytestmark = [pytest.mark.e2e(minutes=0.8), pytest.mark.shares(TWO_PUSHED_RUNS, writes=True)]

FRESH_ROWS = 2000


def _write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The later window (trips testdata/ does not hold, the latest by start time) and the
    same rows with each trip's tips moved to another trip."""
    lines = SOURCE.read_text().splitlines()
    header = next(csv.reader(lines[:1]))
    rows = [{name: typed_cell(cell) for name, cell in zip(header, cells, strict=False)}
            for raw, cells in zip(lines[1:], csv.reader(lines[1:]), strict=False)
            if not _kept(raw)]
    fresh = sorted(rows, key=lambda row: row["trip_start_timestamp"])[-FRESH_ROWS:]
    tips = [row["tips"] for row in fresh]
    random.Random(0).shuffle(tips)
    directory = tmp_path_factory.mktemp("windows")
    return {"fresh": _write_rows(directory / "fresh.jsonl", fresh),
            "shuffled": _write_rows(directory / "shuffled.jsonl",
                                    [{**row, "tips": tip} for row, tip in zip(fresh, tips,
                                                                              strict=True)])}


@pytest.fixture(scope="module")
def served(two_pushed_runs: dict) -> dict:
    """Two pushed versions: the default run's, then dropout 0.2's (the session's runs,
    tests/shared_runs.py, which tests/test_lineage.py has read before this module adds
    evaluation and retraining runs to their store)."""
    return two_pushed_runs


def _evaluate(served: dict, capsys: pytest.CaptureFixture, *flags: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["evaluate-deployed", f"--output_root={served['root']}", *flags])
    return code, capsys.readouterr().out


def _latest_health(served: dict) -> tuple[dict, object, object, object]:
    """The latest evaluation run's verdict (its file, artifact and execution) and the
    FreshEvaluator's evaluation it read."""
    store = open_store(served["layout"].metadata_path)
    config = load_config([f"--output_root={served['root']}"], environ={})
    run = latest_run_context(store, ContinuousEvaluation.pipeline_name(config))
    steps = {step.component: step for step in run_executions(store, run.id)}
    health = steps[Node.HEALTH_CHECK].output("pipeline.ModelHealth")
    return (json.loads((Path(health.uri) / "health.json").read_text()), health,
            steps[Node.HEALTH_CHECK].execution,
            steps[Node.FRESH_EVALUATOR].output("ModelEvaluation"))


def test_a_later_window_is_judged_per_slice_against_blessing_time(
        served: dict, windows: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    code, out = _evaluate(served, capsys, f"--evaluation_data_path={windows['fresh']}")
    assert code in (0, 3), out  # healthy or degraded: the later window decides
    health, artifact, execution, evaluation = _latest_health(served)
    rows = {(row["slice"], row["metric"]): row for row in health["metrics"]}
    latest = served["runs"][1]  # the latest pushed model's training run
    # At blessing: the metrics the training run's Evaluator blessed it with, exactly.
    assert rows["Overall", "auc"]["at_blessing"] == latest["metrics"]["Overall"]["auc"]
    assert rows["Overall", "accuracy"]["at_blessing"] == latest["metrics"]["Overall"][
        "accuracy"]
    # Fresh: the FreshEvaluator's metrics on all 2,000 rows.
    store = open_store(served["layout"].metadata_path)
    assert evaluation.id in {a.id for a in lineage.inputs_of(store, execution.id)}
    fresh = metrics_by_slice(evaluation.uri)
    assert fresh["Overall"]["example_count"] == FRESH_ROWS == health["examples"]
    assert rows["Overall", "auc"]["fresh"] == fresh["Overall"]["auc"]
    assert any(name.startswith("payment_type:") for name, _ in rows)
    assert (rows["Overall", "auc"]["degraded"]) == (
        rows["Overall", "auc"]["at_blessing"] - fresh["Overall"]["auc"] > 0.01)
    # Every feature's distance from the training data, and the verdict printed.
    drift = {row["feature"]: row for row in health["drift"]}
    assert {"fare", "trip_miles", "payment_type", "company"} <= drift.keys()
    assert all(0.0 <= row["distance"] <= 1.0 for row in drift.values())
    assert drift["fare"]["threshold"] == 0.2 and drift["trip_seconds"]["threshold"] == 0.3
    assert ("HEALTHY" in out) == (code == 0) and "Drift from the training data" in out
    # The verdict is linked to the served model, and the model's own evaluation (what
    # `lineage.py show` reports) is still the one that blessed it.
    model, _ = lineage.find_model(store, [], "latest")
    assert model.id in {a.id for a in lineage.inputs_of(store, execution.id)}
    assert custom_property(artifact, "degraded") == int(code == 3)
    blessed_with, _, _ = lineage.evaluation_of(store, model.id)
    assert metrics_by_slice(blessed_with.uri)["Overall"]["auc"] == latest["metrics"][
        "Overall"]["auc"]


def test_shuffled_labels_degrade_and_start_a_linked_retraining(
        served: dict, windows: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    versions = served["versions"]
    # The latest pushed model's own settings: the retraining run is that run again.
    code, out = _evaluate(served, capsys, f"--evaluation_data_path={windows['shuffled']}",
                          *served["latest_flags"], "--degradation_thresholds=auc:0.05",
                          "--retrain_on_degradation=true")
    assert code == 3, out
    health, artifact, _, _ = _latest_health(served)
    assert health["degraded"] is True
    overall = next(row for row in health["metrics"]
                   if row["slice"] == "Overall" and row["metric"] == "auc")
    assert overall["degraded"] and overall["fresh"] < 0.6 < 0.9 < overall["at_blessing"]
    assert any(line.startswith("degraded: auc on Overall: ") for line in health["findings"])
    assert "DEGRADED" in out and "auc on Overall" in out and "Retraining run" in out
    # The training run it started, linked both ways in ML Metadata.
    store = open_store(served["layout"].metadata_path)
    [artifact] = store.get_artifacts_by_id([artifact.id])
    config = load_config([f"--output_root={served['root']}"], environ={})
    run = latest_run_context(store, config.pipeline_name)
    assert custom_property(artifact, "retraining_run") == run.name
    assert run.custom_properties["triggered_by_health"].int_value == artifact.id
    assert run.create_time_since_epoch >= artifact.create_time_since_epoch
    # Nothing new was pushed: the retraining run's data and settings are the latest
    # model's, so its Trainer came from cache and that model already serves.
    assert sorted(p.name for p in served["layout"].serving_directory.iterdir()) == versions


def test_two_pushed_versions_are_compared_on_the_same_rows(
        served: dict, windows: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    first, second = served["versions"]
    code, out = _evaluate(served, capsys, f"--evaluation_data_path={windows['fresh']}",
                          f"--evaluation_model={second}", f"--ab_models={first}",
                          "--bootstrap_samples=200")
    assert code in (0, 3), out
    store = open_store(served["layout"].metadata_path)
    [comparison] = store.get_artifacts_by_type("pipeline.ModelComparison")
    result = json.loads((Path(comparison.uri) / "comparison.json").read_text())
    model_a, _ = lineage.find_model(store, [], second)
    model_b, _ = lineage.find_model(store, [], first)
    assert (result["A"], result["B"], result["B_name"]) == (model_a.uri, model_b.uri, first)
    slices = {row["slice"]: row for row in result["slices"]}
    overall = slices["Overall"]
    assert overall["examples"] == FRESH_ROWS and overall["resamples"] == 200
    # A's AUC on these rows is the FreshEvaluator's (TFMA's, from 10,000 thresholds).
    health, _, _, _ = _latest_health(served)
    fresh_auc = next(row["fresh"] for row in health["metrics"]
                     if row["slice"] == "Overall" and row["metric"] == "auc")
    assert overall["A"] == pytest.approx(fresh_auc, abs=1e-3)
    assert overall["difference"] == pytest.approx(overall["B"] - overall["A"])
    low, high = overall["interval"]
    assert low <= overall["difference"] <= high
    assert overall["better"] == ("B" if low > 0 else "A" if high < 0 else "neither")
    assert custom_property(comparison, "better") == overall["better"]
    assert any(name.startswith("payment_type:") for name in slices)
    assert f"A/B: A = the judged model, B = {first}" in out


def test_the_bootstrap_tells_a_better_model_from_an_equal_one() -> None:
    random = np.random.default_rng(1)
    labels = random.integers(0, 2, 3000).astype(float)
    informative = np.clip(labels * 0.6 + random.random(3000) * 0.4, 0, 1)
    noisy = np.clip(labels * 0.2 + random.random(3000) * 0.8, 0, 1)
    weights = np.ones(3000)
    a = ModelArrays(labels, noisy.reshape(-1, 1), weights)
    b = ModelArrays(labels, informative.reshape(-1, 1), weights)
    slices = [((), np.arange(3000)), ((("half", "first"),), np.arange(1500))]
    [overall, half] = bootstrap_comparison("binary", a, b, slices, samples=300, seed=0)
    assert overall["better"] == "B" and overall["interval"][0] > 0
    assert half["slice"] == "half:first" and half["examples"] == 1500
    assert bootstrap_comparison("binary", b, a, slices[:1], 300, 0)[0]["better"] == "A"
    [same] = bootstrap_comparison("binary", a, a, slices[:1], 300, 0)
    assert same["better"] == "neither" and same["interval"] == [0.0, 0.0]


def test_a_metric_degrades_in_its_own_direction_on_slices_large_enough() -> None:
    then = {"Overall": {"example_count": 900.0, "mae": 1.0, "r2": 0.8},
            "city:a": {"example_count": 500.0, "mae": 1.0, "r2": 0.8},
            "city:b": {"example_count": 50.0, "mae": 1.0, "r2": 0.8}}
    now = {"Overall": {"example_count": 900.0, "mae": 1.5, "r2": 0.79},
           "city:a": {"example_count": 500.0, "mae": 1.0, "r2": 0.7},
           "city:b": {"example_count": 50.0, "mae": 1.0, "r2": 0.1}}
    rows, degraded = metric_changes("regression", then, now, {"r2": 0.02, "mae": 0.1}, 200)
    # MAE is worse higher; R² worse lower; city:b is too small to judge.
    assert [(d.slice, d.metric) for d in degraded] == [("Overall", "mae"), ("city:a", "r2")]
    assert not next(r for r in rows if r["slice"] == "city:b" and r["metric"] == "r2")[
        "judged"]


def test_without_fresh_rows_or_a_store_the_task_says_which(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture
                                                           ) -> None:
    assert cli.main(["evaluate-deployed", f"--output_root={tmp_path}"]) == 2
    assert "evaluation_data_path is empty" in capsys.readouterr().err
    assert cli.main(["evaluate-deployed", f"--output_root={tmp_path}",
                     "--evaluation_data_path=testdata/taxi_trips.jsonl"]) == 2
    assert "No ML Metadata store" in capsys.readouterr().err
