"""The compiled Vertex AI pipelines run here task by task with every artifact on gs://
(`vertex_runner.py dry-run`, its default storage: a Cloud Storage emulator on loopback),
two training replicas, Vertex AI's cache, and the scoring pipeline from the BigQuery
emulator's table to a predictions table.

The dry runs are the heaviest tests of the suite, so they run once, here, and every
assertion reads the runs a module fixture made. Each is `vertex_runner.py` in a process
of its own, as a person runs it; the artifacts are read afterwards through the emulator
(started again on the dry runs' saved objects) with the Cloud Storage client.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage

from pipeline.orchestration.storage_emulator import StorageEmulator
from pipeline.settings import REPOSITORY_ROOT
from pipeline.settings.bigquery import bigquery_query
from pipeline.settings.loading import load_config
from tests.bigquery_fixtures import PROJECT, TRIPS_TABLE, whole_testdata_window

# The five dry runs take about 7 minutes on 2 cores: scheduled first (tests/conftest.py).
pytestmark = pytest.mark.e2e(minutes=7)

BUCKET = "tipper-bucket"
PIPELINE = "big-tipper"
PREDICTIONS_TABLE = f"{PROJECT}.taxi.predictions"
DRY_RUN_TIMEOUT_S = 1800


def _flags(window: dict[str, str], output_root: Path) -> list[str]:
    return ["--variant=vertex", "--gcp_project=tipper-project",
            f"--gcs_root=gs://{BUCKET}/tfx", f"--bigquery_table={TRIPS_TABLE}",
            "--bigquery_window_days=0", f"--bigquery_start_date={window['bigquery_start_date']}",
            f"--bigquery_end_date={window['bigquery_end_date']}",
            "--bigquery_sample_percent=100", f"--output_root={output_root}",
            # Training sized as by default (the model is blessed), stopping 3 epochs after
            # the lowest validation loss instead of 8.
            "--sandbox_seconds=1", "--patience=3"]


def _dry_run(command: str, flags: list[str], endpoint: str) -> str:
    """`python vertex_runner.py COMMAND FLAGS` in its own process; its transcript."""
    finished = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "vertex_runner.py", command, *flags], cwd=REPOSITORY_ROOT,
        env={**os.environ, "DRY_RUN_BIGQUERY_ENDPOINT": endpoint, "PYTHONPATH":
             str(REPOSITORY_ROOT)}, capture_output=True, text=True, timeout=DRY_RUN_TIMEOUT_S)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-6000:]
    return finished.stdout


def task_states(transcript: str) -> dict[str, str]:
    """Each task's state on its own line of a dry run ("  Trainer   succeeded  51.3 s"),
    by the task's name: succeeded, cached or resolved."""
    return {found.group(1): found.group(2) for found in re.finditer(
        r"^  (\S+)\s+(succeeded|cached|resolved|FAILED)\b", transcript, re.MULTILINE)}


def overall_metrics(transcript: str) -> dict[str, float]:
    line = next(line for line in transcript.splitlines() if line.startswith("  metrics: "))
    return {name: float(value) for name, value in
            (pair.rsplit(" ", 1) for pair in line[len("  metrics: "):].split(", "))}


@pytest.fixture(scope="module")
def runs(emulator_endpoint: str, trips_table: str, trips: list[dict[str, Any]],
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The dry runs the tests read, in order:
    first: the training pipeline with two replicas and the cache on, nothing cached yet;
    unchanged: the same again;
    moved: the BigQuery window a day later (one trip fewer of 1,955: the same data within
    noise) with one replica, warm-started from the first run's blessed model, for the
    cache and for one replica's model quality;
    evaluation: continuous evaluation of the latest blessed model on flipped labels;
    scoring: the scoring pipeline on the whole table, predictions to a BigQuery table."""
    output_root = tmp_path_factory.mktemp("vertex-on-storage")
    window = whole_testdata_window(trips)
    flags = _flags(window, output_root)
    replicated = [*flags, "--trainer_replica_count=2", "--cache"]
    transcripts = {"first": _dry_run("dry-run", replicated, emulator_endpoint),
                   "unchanged": _dry_run("dry-run", replicated, emulator_endpoint)}
    start = datetime.date.fromisoformat(window["bigquery_start_date"])
    moved = [flag for flag in flags if not flag.startswith("--bigquery_start_date=")]
    transcripts["moved"] = _dry_run(
        "dry-run", [*moved, f"--bigquery_start_date={start + datetime.timedelta(days=1)}",
                    "--cache", "--warm_start=true"], emulator_endpoint)
    # Continuous evaluation of the blessed model on the table with every label flipped
    # (its AUC becomes 1 - AUC): the verdict is degraded, and the retraining job is
    # written, not submitted.
    flipped = bigquery_query(load_config([*flags, "--label_rule=tips <= 0.2 * fare"],
                                         environ={}))
    transcripts["evaluation"] = _dry_run(
        "dry-run-evaluation", [*flags, f"--evaluation_query={flipped}",
                               "--retrain_on_degradation=true"], emulator_endpoint)
    transcripts["scoring"] = _dry_run(
        "dry-run-scoring", [*flags, f"--scoring_bigquery_table={TRIPS_TABLE}",
                            "--key_columns=unique_key",
                            f"--predictions_bigquery_table={PREDICTIONS_TABLE}"],
        emulator_endpoint)
    directory = output_root / "vertex-dry-run"
    with StorageEmulator(BUCKET, directory / "storage") as emulator:
        gcs = storage.Client(project="dry-run", credentials=AnonymousCredentials(),
                             client_options={"api_endpoint": emulator.endpoint})
        objects = {blob.name: blob.size for blob in gcs.list_blobs(BUCKET)}
        markers = {name: gcs.bucket(BUCKET).blob(name).download_as_bytes()
                   for name in objects if name.endswith("/BLESSED")}
        trained = {name: json.loads(gcs.bucket(BUCKET).blob(name).download_as_bytes())
                   for name in objects if name.endswith("/assets.extra/training.json")}
    return {"transcripts": transcripts, "objects": objects, "markers": markers,
            "trained": trained,
            "record": json.loads((directory / "record.json").read_text()),
            "directory": directory, "window": window}


def _first_run_id(transcript: str) -> str:
    return re.search(r"Dry run (run-\d{8}-\d{6}):", transcript).group(1)


def test_every_artifact_is_on_gs_and_the_first_run_blesses_and_pushes(runs: dict) -> None:
    first = runs["transcripts"]["first"]
    states = task_states(first)
    for task in ("ExampleGen", "StatisticsGen", "DataAnomalyGate", "Transform", "Trainer",
                 "Evaluator", "ServingSandbox", "Pusher", "ModelReportGen"):
        assert states.get(task) == "succeeded", (task, states)
    assert f"storage: gs://{BUCKET} served at http://127.0.0.1:" in first
    assert "Evaluator: blessed (gs://" in first and "Pusher: pushed to gs://" in first
    # Every artifact the run recorded is an object-store URI, and holds objects.
    run_id = _first_run_id(first)
    recorded = [artifact["uri"] for artifact in runs["record"]["artifacts"]
                if f"/{run_id}/" in artifact["uri"]]
    # 14 since Transform writes no analyzer cache (disable_analyzer_cache: 15 before).
    assert len(recorded) >= 14 and all(uri.startswith(f"gs://{BUCKET}/") for uri in recorded)
    root = f"tfx/pipeline_root/{PIPELINE}/dry-run/{run_id}"
    for task in ("ExampleGen", "Transform", "Trainer", "Evaluator", "ServingSandbox",
                 "ModelReportGen"):
        assert any(name.startswith(f"{root}/{task}/") for name in runs["objects"]), task


def test_no_beam_step_packages_tfx_for_workers(runs: dict) -> None:
    """The Beam steps run where their dependencies are (the image Dataflow's workers run
    too), and their arguments say so: TFX builds no sdist of itself for remote workers
    (its dependency_utils logs which way it went in every Beam step)."""
    texts = {log: log.read_text() for log in runs["directory"].glob("*/run-*/*/task*.log")}
    beam_steps = {log.parent.name: text for log, text in texts.items()
                  if "dependency_utils.py" in text}
    assert {"ExampleGen", "StatisticsGen", "Transform", "Evaluator"} <= set(beam_steps)
    for name, text in beam_steps.items():
        assert "Nonempty beam arg sdk_container_image already includes dependency" in text, name
        assert "Attempting to infer TFX Python dependency" not in text, name


def test_the_sandbox_works_on_gs(runs: dict) -> None:
    """Its eval examples are found (an empty glob would check nothing), the model copy and
    its warmup file and the marker are written, and the server's log is copied back."""
    first = runs["transcripts"]["first"]
    checked = re.search(r"ServingSandbox: passed \((\d+) eval examples' answers checked\)",
                        first)
    assert checked and int(checked.group(1)) > 0, first[-3000:]
    sandbox = f"tfx/pipeline_root/{PIPELINE}/dry-run/{_first_run_id(first)}/ServingSandbox/blessing"
    names = {name for name in runs["objects"] if name.startswith(sandbox)}
    assert f"{sandbox}/BLESSED" in names and f"{sandbox}/server.log" in names
    assert f"{sandbox}/stamped_model/saved_model.pb" in names
    assert runs["objects"][f"{sandbox}/stamped_model/assets.extra/tf_serving_warmup_requests"] > 0


def test_two_replicas_train_through_the_trainer_entry_point_and_one_model_lands(
        runs: dict) -> None:
    first = runs["transcripts"]["first"]
    assert "Trainer: Vertex AI Training -> the same run_fn in 2 local processes, a chief " \
        "and 1 worker(s) on loopback" in first
    assert re.search(r"^  Trainer\s+succeeded\s+[\d.]+ s  \(2 replicas\)", first, re.MULTILINE)
    run_root = runs["directory"] / PIPELINE / _first_run_id(first) / "Trainer"
    chief, worker = (run_root / "task.log").read_text(), \
        (run_root / "task-replica1.log").read_text()
    assert "Exported serving model to gs://" in chief
    assert "Worker done; the chief's model is at gs://" in worker
    model = f"tfx/pipeline_root/{PIPELINE}/dry-run/{_first_run_id(first)}/Trainer/model/"
    assert [name for name in runs["objects"]
            if name.startswith(model) and name.endswith("saved_model.pb")] == [
        f"{model}Format-Serving/saved_model.pb"]
    # The same model quality as one replica's (the moved window's run: one trip fewer),
    # within the noise of a 400-row eval split.
    two, one = (overall_metrics(runs["transcripts"][run]) for run in ("first", "moved"))
    for metric in ("auc", "accuracy"):
        assert abs(two[metric] - one[metric]) < 0.03, (metric, two, one)


def test_vertex_cache_reuses_what_has_the_same_inputs(runs: dict) -> None:
    """An unchanged run reuses every cacheable task whose inputs are the same artifacts.
    The resolvers now find the first run's blessed model and accepted statistics, so the
    steps that read them (DataAnomalyGate, Evaluator) and what follows them run again, as
    on Vertex AI. A moved window re-runs ExampleGen and everything its new examples feed;
    the schema import, fed by nothing that changed, is reused."""
    unchanged = task_states(runs["transcripts"]["unchanged"])
    for task in ("ExampleGen", "StatisticsGen", "ExampleValidator", "ImportCuratedSchema",
                 "Transform", "Trainer"):
        assert unchanged[task] == "cached", (task, unchanged)
    for task in ("DataAnomalyGate", "Evaluator", "ServingSandbox", "Pusher",
                 "ModelReportGen"):
        assert unchanged[task] == "succeeded", (task, unchanged)
    # The Trainer's model came from cache: the very model serving, not pushed again.
    assert re.search(r"Pusher: nothing pushed: this very model already serves as "
                     r"gs://\S+/serving/\d+", runs["transcripts"]["unchanged"])
    moved = task_states(runs["transcripts"]["moved"])
    assert moved["ImportCuratedSchema"] == "cached"
    for task in ("ExampleGen", "StatisticsGen", "ExampleValidator", "DataAnomalyGate",
                 "Transform", "Trainer", "Evaluator", "ServingSandbox", "Pusher"):
        assert moved[task] == "succeeded", (task, moved)


def test_the_scoring_pipeline_writes_one_prediction_per_row(
        runs: dict, client: bigquery.Client, trips: list[dict[str, Any]]) -> None:
    scoring = runs["transcripts"]["scoring"]
    states = task_states(scoring)
    assert states["LatestBlessedModelResolver-model-resolver"] == "resolved"
    for task in ("ScoringExampleGen", "BatchScorer"):
        assert states.get(task) == "succeeded", (task, states)
    written = re.search(r"BatchScorer: (\d+) predictions in gs://\S+; (\d+) rows "
                        r"appended to (\S+)", scoring)
    assert written, scoring[-2000:]
    assert int(written.group(1)) == int(written.group(2)) == len(trips)
    keys = [row["unique_key"] for row in client.query(
        f"SELECT unique_key FROM `{PREDICTIONS_TABLE}`").result(timeout=60)]
    assert sorted(keys) == sorted(trip["unique_key"] for trip in trips)


def test_continuous_evaluation_finds_the_degradation_and_writes_the_retraining_job(
        runs: dict) -> None:
    evaluation = runs["transcripts"]["evaluation"]
    states = task_states(evaluation)
    for task in ("LatestBlessedModelResolver-model-resolver",
                 "LatestBlessedModelResolver-model-blessing-resolver",
                 "LastAcceptedStatisticsResolver", "LatestSchemaResolver"):
        assert states.get(task) == "resolved", (task, states)
    for task in ("FreshExampleGen", "FreshStatisticsGen", "FreshEvaluator",
                 "ModelHealthCheck", "RetrainingTrigger"):
        assert states.get(task) == "succeeded", (task, states)
    # Judged against the metrics the model was blessed with, found through its blessing.
    assert "  ModelHealthCheck: DEGRADED (gs://" in evaluation
    finding = re.search(r"    degraded: auc on Overall: (\S+) on the fresh rows against (\S+) "
                        r"at blessing", evaluation)
    assert finding, evaluation[-3000:]
    fresh, at_blessing = float(finding.group(1)), float(finding.group(2))
    assert fresh < 0.2 and at_blessing > 0.8
    assert (f"  RetrainingTrigger: training pipeline job dry-run: not submitted ({PIPELINE} "
            f"from gs://{BUCKET}/tfx/templates/{PIPELINE}.json)") in evaluation
    assert "RetrainingTrigger: the training pipeline job -> written to its request file" \
        in evaluation


def test_a_warm_start_on_vertex_reads_the_blessed_models_weights_from_gs(runs: dict) -> None:
    """The moved run's Trainer (`warm_start=true`) starts from the model the resolver
    found blessed, read from gs://; the first run's had no blessed model to start from."""
    moved = _first_run_id(runs["transcripts"]["moved"])
    first = _first_run_id(runs["transcripts"]["first"])
    by_run = {run: [facts["warm_start"] for name, facts in runs["trained"].items()
                    if f"/{run}/Trainer/" in name] for run in (first, moved)}
    [warm] = by_run[moved]
    assert warm["base_model"].startswith(f"gs://{BUCKET}/") and f"/{first}/" in \
        warm["base_model"], warm
    assert warm["weights"] > 10 and warm["reason"] == "", warm
    assert all(facts["base_model"] is None for facts in by_run[first]), by_run[first]
