"""The whole local pipeline on testdata/, checked through ML Metadata and the pushed model.

Modelled on TFX's penguin end-to-end test: a real LocalDagRunner run in a temporary
directory, then assertions on what ML Metadata recorded, a second run served from cache,
and bad input files that must fail loudly without touching the pushed model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from evaluation.results import metrics_by_slice
from pipeline.components.anomaly_gate import anomaly_lines
from pipeline.metadata.store import open_store
from pipeline.orchestration.layout import LocalLayout
from pipeline.orchestration.local import run_local_pipeline
from pipeline.orchestration.run_summary import collect_run_summary, metrics_table
from pipeline.settings import PipelineConfig, TrainingSettings
from pipeline.settings.loading import load_config
from tests.configs import CURATED_SCHEMA_NODES
from tests.helpers import TESTDATA, read_report, sample_rows, serialized_examples

pytestmark = pytest.mark.e2e(minutes=3.3)

COMPONENTS = CURATED_SCHEMA_NODES
RESOLVERS = {"LastAcceptedStatisticsResolver", "LatestBlessedModelResolver"}
AUC_FLOOR = 0.9


def _config(output_root: Path, *flags: str) -> PipelineConfig:
    return load_config([f"--output_root={output_root}", *flags], environ={})


def _pushed_versions(layout: LocalLayout) -> list[str]:
    directory = layout.serving_directory
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    config = _config(tmp_path_factory.mktemp("e2e"))
    result = run_local_pipeline(config)
    assert result.succeeded, result.failure
    layout = LocalLayout.for_config(config)
    return {"config": config, "layout": layout,
            "summary": collect_run_summary(config, layout)}


def test_every_component_executed(first_run: dict) -> None:
    states = {c["component"]: c["state"] for c in first_run["summary"]["components"]}
    assert states == {name: "ran" for name in COMPONENTS}


def test_no_anomalies_in_testdata(first_run: dict) -> None:
    from tfx.types import artifact_utils, standard_artifacts

    store = open_store(first_run["layout"].metadata_path)
    (record,) = store.get_artifacts_by_type("ExampleAnomalies")
    artifact = artifact_utils.deserialize_artifact(
        store.get_artifact_types_by_id([record.type_id])[0], record)
    assert isinstance(artifact, standard_artifacts.ExampleAnomalies)
    assert anomaly_lines(artifact) == []


def test_model_is_blessed_with_auc_above_the_floor(first_run: dict) -> None:
    summary = first_run["summary"]
    assert summary["blessed"] is True
    assert summary["metrics"]["Overall"]["auc"] >= AUC_FLOOR
    assert summary["metrics"]["Overall"]["example_count"] > 200
    assert any(name.startswith("payment_type:") for name in summary["metrics"])


def test_one_class_slices_carry_no_auc(first_run: dict) -> None:
    """AUC is undefined where every example has one label (TFMA stores 0 there); the
    summary, lineage and the report all read metrics_by_slice, so none of them shows it."""
    summary = first_run["summary"]
    every = metrics_by_slice(summary["evaluation_uri"], names=None)
    one_class = [name for name, values in every.items() if values["mean_label"] in (0.0, 1.0)]
    both = [name for name, values in every.items() if 0 < values["mean_label"] < 1]
    assert one_class and both  # the testdata's small slices include one-class ones
    assert not any("auc" in every[name] or "auc" in summary["metrics"][name]
                   for name in one_class)
    assert all("auc" in summary["metrics"][name] for name in both)
    [name, *_] = [name for name in one_class if " " not in name]  # one word, for split()
    table = metrics_table({name: summary["metrics"][name]})
    assert table.splitlines()[2].split()[:3] == [name, f"{every[name]['example_count']:.0f}",
                                                 "-"]  # no AUC for that slice


def test_pushed_model_loads_and_scores_testdata_rows(first_run: dict) -> None:
    summary, config = first_run["summary"], first_run["config"]
    assert summary["pushed"] is True
    pushed = Path(summary["pushed_model"])
    assert pushed.parent == first_run["layout"].serving_directory
    stored = json.loads((pushed / "assets.extra" / "training_settings.json").read_text())
    # The configured settings, with what sizing chose in place of each `auto`.
    configured = TrainingSettings.from_config(config).to_dict()
    sized = ("batch_size", "learning_rate", "epochs")
    assert all(configured[name] == "auto" for name in sized)
    assert all(isinstance(stored[name], (int, float)) for name in sized)
    assert stored == {**configured, **{name: stored[name] for name in sized}}

    rows = sample_rows(500)
    labels = np.array([int((r["tips"] or 0) > 0.2 * (r["fare"] or 0)) for r in rows])
    unlabeled = []
    for record in serialized_examples(config, rows):
        example = tf.train.Example.FromString(record)
        del example.features.feature[config.label_name]
        unlabeled.append(example.SerializeToString())
    serve = tf.saved_model.load(str(pushed)).signatures["serving_default"]
    probabilities = serve(examples=tf.constant(unlabeled))["probability"].numpy()[:, 0]
    assert np.all((probabilities > 0) & (probabilities < 1))
    assert probabilities.std() > 0.1  # it discriminates, not a constant
    assert abs(probabilities.mean() - labels.mean()) < 0.1  # roughly calibrated
    assert probabilities[labels == 1].mean() > probabilities[labels == 0].mean() + 0.3


def test_the_report_shows_where_the_model_fails(first_run: dict) -> None:
    summary, config = first_run["summary"], first_run["config"]
    report = read_report(Path(summary["report"]))
    assert report.images == 3  # calibration, importance, training curves: all embedded
    assert report.external_references == []  # opens from disk, no network

    slices = report.tables["slices"]
    overall = summary["metrics"]["Overall"]
    assert len(slices) == len(summary["metrics"]) - 1  # every slice but the overall one
    # Worst first: slices with both classes by AUC, then one-class slices (no AUC).
    with_auc = [row["auc"] != "-" for row in slices]
    assert with_auc == sorted(with_auc, reverse=True) and with_auc[0]
    aucs = [float(row["auc"]) for row in slices if row["auc"] != "-"]
    assert aucs == sorted(aucs) and aucs[0] < overall["auc"]

    (actual_positive, actual_negative) = report.tables["confusion"]
    cells = [int(actual_positive["predicted positive"]), int(actual_positive["predicted negative"]),
             int(actual_negative["predicted positive"]), int(actual_negative["predicted negative"])]
    assert sum(cells) == overall["example_count"]
    recall = cells[0] / (cells[0] + cells[1])
    assert recall == pytest.approx(overall["recall"], abs=0.01)  # the matrix at the threshold
    # Calibration covers every eval example, and the positives it counts are the matrix's.
    calibration = report.tables["calibration"]
    assert sum(int(row["examples"]) for row in calibration) == overall["example_count"]
    positives = sum(int(row["examples"]) * float(row["observed rate"]) for row in calibration)
    assert positives == pytest.approx(cells[0] + cells[1], abs=0.5)
    assert 3 <= len(calibration) <= 10

    wrong = report.tables["most_wrong"]
    assert len(wrong) == 20
    losses = [float(row["log loss"]) for row in wrong]
    assert losses == sorted(losses, reverse=True)
    assert all(row["label"] in ("0", "1") and row["payment_type"] for row in wrong)
    # The most wrong example is confidently on the wrong side of the threshold.
    assert abs(float(wrong[0]["probability"]) - float(wrong[0]["label"])) > 0.5

    importance = report.tables["importance"]
    assert {row["feature"] for row in importance} == set(config.raw_feature_names)
    assert float(importance[0]["AUC drop"]) > 0.05  # some feature matters a lot...
    assert importance[0]["feature"] in ("payment_type", "fare")  # ...and it is a plausible one

    package = Path(summary["model_package"])
    assert package.exists() and package.parent == Path(summary["model_uri"])


def test_the_sandbox_served_the_candidate_before_the_push(first_run: dict) -> None:
    """Recorded in ML Metadata: the verdict, the server, the answers checked against the
    model in process, and latency and throughput measured under load."""
    summary = first_run["summary"]
    sandbox = summary["sandbox"]
    assert sandbox["blessed"] == 1 and sandbox["reason"] == "passed"
    assert sandbox["server"] == "tensorflow"  # no tensorflow_model_server here
    eval_examples = summary["metrics"]["Overall"]["example_count"]
    assert sandbox["answers_checked"] == min(eval_examples,
                                             first_run["config"].sandbox_examples)
    assert 0 < sandbox["latency_p50_ms"] <= sandbox["latency_p99_ms"]
    assert sandbox["latency_p99_ms"] <= first_run["config"].max_latency_p99_ms
    assert sandbox["single_requests"] > 0 and sandbox["batch_requests"] > 0
    assert sandbox["examples_per_second"] >= first_run["config"].min_examples_per_second


def test_the_pushed_model_carries_warmup_requests_that_replay(first_run: dict) -> None:
    """TF Serving's warmup file: PredictionLog records of real eval examples, each a
    PredictRequest that the pushed model answers."""
    from tensorflow_serving.apis import prediction_log_pb2

    from pipeline.serving.model_server import WARMUP_FILE

    pushed = Path(first_run["summary"]["pushed_model"])
    records = list(tf.data.TFRecordDataset(str(pushed / WARMUP_FILE)).as_numpy_iterator())
    assert len(records) >= 2
    serve = tf.saved_model.load(str(pushed)).signatures["serving_default"]
    label = first_run["config"].label_name
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        examples = tf.make_ndarray(request.inputs["examples"])
        parsed = [tf.train.Example.FromString(example) for example in examples]
        assert all(label not in example.features.feature and example.features.feature
                   for example in parsed)  # real rows, as a caller sends them
        probabilities = serve(examples=tf.constant(examples))["probability"].numpy()
        assert probabilities.shape == (len(examples), 1)
        assert np.all((probabilities > 0) & (probabilities < 1))


def _rows_to_score(tmp_path: Path, rows: list[dict], label_columns: tuple[str, ...]) -> Path:
    path = tmp_path / "to_score.jsonl"
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps({k: v for k, v in row.items() if k not in label_columns})
                         + "\n")
    return path


def test_batch_predictions_score_every_row_as_the_pushed_model_serves_it(
        first_run: dict, tmp_path: Path) -> None:
    from pipeline.components.example_gen import RowConverter
    from pipeline.metadata import lineage
    from pipeline.orchestration.scoring import run_batch_predictions
    from pipeline.settings import ScoringIngestionSettings
    from pipeline.settings.label import Label

    base = first_run["config"]
    label = Label.from_settings(base.label_name, base.label_rule, base.task)
    rows = sample_rows()
    # The label's own inputs (tips) dropped: the table to score has no label.
    label_only = tuple(c for c in label.columns if c not in base.raw_feature_names)
    assert label_only == ("tips",)
    path = _rows_to_score(tmp_path, rows, label_only)
    config = _config(first_run["layout"].root, f"--scoring_data_path={path}",
                     "--key_columns=trip_start_timestamp", "--passthrough_columns=company")
    result = run_batch_predictions(config)
    assert result.run.succeeded, result.run.failure
    assert result.pushed_version == _pushed_versions(first_run["layout"])[-1]
    lines = [json.loads(line) for line in Path(result.predictions).read_text().splitlines()]
    assert len(lines) == len(rows) == result.rows
    by_line = {int(line["source"].rsplit(":", 1)[1]): line for line in lines}
    assert sorted(by_line) == list(range(1, len(rows) + 1))  # one prediction per row

    # The same rows through the pushed model's serving signature (missing values too).
    converter = RowConverter(ScoringIngestionSettings.from_config(config))
    examples = [converter.encode(row, f"{path}:{number}")
                for number, row in enumerate(rows, start=1)]
    serve = tf.saved_model.load(str(first_run["layout"].serving_directory
                                    / result.pushed_version)).signatures["serving_default"]
    expected = serve(examples=tf.constant(examples))["probability"].numpy()[:, 0]
    np.testing.assert_allclose([by_line[n]["probability"] for n in range(1, len(rows) + 1)],
                               expected, rtol=1e-6, atol=1e-7)
    for number, row in enumerate(rows, start=1):
        assert by_line[number]["trip_start_timestamp"] == str(row["trip_start_timestamp"])
        assert by_line[number]["company"] == row["company"]  # None where the row has none

    # The file traces back to the model, its training run and data, and the scored table.
    store = open_store(first_run["layout"].metadata_path)
    runs = lineage.pipeline_runs(store, base.pipeline_name, "test")
    report = lineage.predictions_report(store, runs, result.predictions)
    assert report["predictions"]["rows"] == len(rows)
    assert report["model"]["model"]["id"] == result.model_id
    assert report["model"]["pushed"]["version"] == result.pushed_version
    assert any(step["component"] == "Trainer" for step in report["model"]["chain"])
    assert list(report["scored_data"]["files"]) == [str(path)]
    assert report["model"]["data"]["files"]  # the training data, with its SHA-256


def test_a_bad_row_to_score_fails_naming_the_line_and_writes_nothing(
        first_run: dict, tmp_path: Path) -> None:
    from pipeline.orchestration.scoring import run_batch_predictions

    rows = sample_rows(3)
    rows[2] = dict(rows[2], trip_miles="far")
    path = _rows_to_score(tmp_path, rows, ("tips",))
    store = open_store(first_run["layout"].metadata_path)
    before = len(store.get_artifacts_by_type("pipeline.Predictions"))
    result = run_batch_predictions(_config(first_run["layout"].root,
                                           f"--scoring_data_path={path}"))
    assert not result.run.succeeded
    assert f"{path}:3" in result.run.failure and "trip_miles" in result.run.failure
    assert len(store.get_artifacts_by_type("pipeline.Predictions")) == before


def _states_of_latest_run(first_run: dict) -> dict[str, str]:
    summary = collect_run_summary(first_run["config"], first_run["layout"])
    return {c["component"]: c["state"] for c in summary["components"]}


def test_later_runs_are_served_from_cache(first_run: dict) -> None:
    # Second run: the first model is now the blessed baseline, a new input of the
    # Evaluator, so (as in TFX's penguin test) only Evaluator, the sandbox and report on
    # its blessing, and Pusher run again.
    versions_before = _pushed_versions(first_run["layout"])
    assert run_local_pipeline(first_run["config"]).succeeded
    states = _states_of_latest_run(first_run)
    assert {name: states.pop(name) for name in RESOLVERS} == dict.fromkeys(RESOLVERS, "ran")
    # The Pusher ran, but the Trainer's model came from cache: the very model serving
    # already, so no second version of it.
    assert _pushed_versions(first_run["layout"]) == versions_before
    pushed = collect_run_summary(first_run["config"], first_run["layout"])
    assert pushed["pushed"] is False
    assert pushed["already_serving"] == str(first_run["layout"].serving_directory
                                            / versions_before[-1])
    # The gate now has a baseline too (the first run's accepted statistics): it re-runs,
    # finds no drift, and its unchanged verdict lets Transform come from cache.
    assert states == {name: ("ran" if name in ("Evaluator", "ServingSandbox", "ModelReportGen",
                                               "Pusher", "DataAnomalyGate")
                             else "cached") for name in COMPONENTS - RESOLVERS}
    # With a baseline, TFMA also stores baseline values and differences; the summary must
    # still show the candidate's own.
    second = collect_run_summary(first_run["config"], first_run["layout"])["metrics"]["Overall"]
    assert second == pytest.approx(first_run["summary"]["metrics"]["Overall"], rel=1e-6)
    # Third run: nothing changed at all, so every component comes from cache.
    versions_before = _pushed_versions(first_run["layout"])
    assert run_local_pipeline(first_run["config"]).succeeded
    states = _states_of_latest_run(first_run)
    assert {name: states.pop(name) for name in RESOLVERS} == dict.fromkeys(RESOLVERS, "ran")
    # The data checks run every time, against the last accepted data (under a second);
    # everything they guard comes from cache.
    assert states == {name: ("ran" if name == "DataAnomalyGate" else "cached")
                      for name in COMPONENTS - RESOLVERS}
    assert _pushed_versions(first_run["layout"]) == versions_before


def _run_with_bad_file(first_run: dict, tmp_path: Path, lines: list[str]) -> tuple:
    path = tmp_path / "trips.jsonl"
    path.write_text("\n".join(lines) + "\n")
    versions_before = _pushed_versions(first_run["layout"])
    config = _config(first_run["layout"].root, f"--data_path={path}")
    result = run_local_pipeline(config)
    assert not result.succeeded
    assert _pushed_versions(first_run["layout"]) == versions_before  # nothing pushed
    for version in versions_before:  # and earlier pushes intact
        assert (first_run["layout"].serving_directory / version / "saved_model.pb").exists()
    return path, result


def test_malformed_line_fails_naming_file_and_line(first_run: dict, tmp_path: Path) -> None:
    lines = TESTDATA.read_text().splitlines()[:200]
    lines[41] = lines[41][:-10]  # truncate line 42 mid-object
    path, result = _run_with_bad_file(first_run, tmp_path, lines)
    assert result.failure.startswith(f"{path}:42: malformed JSON")


def test_data_breaking_the_schema_stops_before_transform(first_run: dict,
                                                        tmp_path: Path) -> None:
    rows = sample_rows(300)
    for row in rows[::10]:
        row["payment_type"] = "Bitcoin"
    _, result = _run_with_bad_file(first_run, tmp_path, [json.dumps(r) for r in rows])
    assert "the run stops before Transform" in result.failure
    assert "payment_type: Unexpected string values" in result.failure
    states = {c["component"]: c["state"] for c in
              collect_run_summary(first_run["config"], first_run["layout"])["components"]}
    assert states["DataAnomalyGate"] == "failed" and "Transform" not in states


def test_missing_column_fails_naming_the_column(first_run: dict, tmp_path: Path) -> None:
    rows = sample_rows(200)
    for row in rows:
        del row["trip_miles"]
    path, result = _run_with_bad_file(first_run, tmp_path, [json.dumps(r) for r in rows])
    assert result.failure == f"{path}:1: missing required column 'trip_miles'"


def test_absurd_values_stop_the_run_naming_the_features(first_run: dict,
                                                        tmp_path: Path) -> None:
    rows = sample_rows(300)
    for row in rows[::15]:
        row["fare"] = -12.5
    rows[7]["trip_miles"] = 1e9
    _, result = _run_with_bad_file(first_run, tmp_path, [json.dumps(r) for r in rows])
    assert "train: fare: Out-of-range values" in result.failure
    assert "trip_miles: Out-of-range values" in result.failure


def test_a_column_that_is_all_null_stops_the_run(first_run: dict, tmp_path: Path) -> None:
    rows = [dict(row, company=None) for row in sample_rows(300)]
    _, result = _run_with_bad_file(first_run, tmp_path, [json.dumps(r) for r in rows])
    assert "train: company: no value in any example (the column is empty or all null)" \
        in result.failure


def test_drift_from_the_last_accepted_data_stops_the_run(first_run: dict,
                                                         tmp_path: Path) -> None:
    # Every trip paid by card: a shift in payment_type far beyond its 0.2 threshold, though
    # each value alone is valid.
    rows = [dict(row, payment_type="Credit Card") for row in sample_rows(600)]
    _, result = _run_with_bad_file(first_run, tmp_path, [json.dumps(r) for r in rows])
    assert "drift: payment_type: The Linfty distance between current and previous" \
        in result.failure


def test_a_worse_candidate_is_not_blessed_against_the_baseline(first_run: dict) -> None:
    versions_before = _pushed_versions(first_run["layout"])
    config = _config(first_run["layout"].root, "--epochs=1", "--learning_rate=0.000001")
    result = run_local_pipeline(config)
    assert result.succeeded  # a model that is not blessed is a normal outcome, not a failure
    summary = collect_run_summary(config, first_run["layout"])
    assert summary["blessed"] is False and summary["pushed"] is False
    assert any("auc" in reason and "against the last blessed model" in reason
               for reason in summary["not_blessed_because"])
    assert _pushed_versions(first_run["layout"]) == versions_before


def test_a_latency_limit_below_the_measured_one_blocks_the_push(first_run: dict) -> None:
    versions_before = _pushed_versions(first_run["layout"])
    config = _config(first_run["layout"].root, "--max_latency_p99_ms=0.001")
    result = run_local_pipeline(config)
    assert result.succeeded, result.failure  # a blocked push is an outcome, not a failure
    summary = collect_run_summary(config, first_run["layout"])
    assert summary["blessed"] is True and summary["pushed"] is False
    sandbox = summary["sandbox"]
    assert sandbox["blessed"] == 0 and "max_latency_p99_ms=0.001" in sandbox["reason"]
    assert sandbox["latency_p99_ms"] > 0.001
    assert _pushed_versions(first_run["layout"]) == versions_before


def test_a_model_that_fails_to_load_is_not_pushed(first_run: dict) -> None:
    """The Trainer's model (from cache) broken on disk: the sandbox's server cannot load
    it, the Pusher ships nothing, and the earlier pushes stay whole."""
    versions_before = _pushed_versions(first_run["layout"])
    saved_model = (Path(first_run["summary"]["model_uri"]) / "Format-Serving"
                   / "saved_model.pb")
    original = saved_model.read_bytes()
    saved_model.write_bytes(b"not a SavedModel")
    try:
        # A sandbox setting of its own, so the sandbox runs again on the cached model.
        config = _config(first_run["layout"].root, "--sandbox_examples=99")
        result = run_local_pipeline(config)
    finally:
        saved_model.write_bytes(original)
    summary = collect_run_summary(config, first_run["layout"])
    sandbox = summary["sandbox"]
    assert sandbox["blessed"] == 0 and "the model failed to load" in sandbox["reason"]
    assert summary["pushed"] is False
    # The report, which scores the same broken model after the Pusher, fails the run.
    assert not result.succeeded and "ModelReportGen" not in {
        c["component"] for c in summary["components"] if c["state"] == "ran"}
    assert _pushed_versions(first_run["layout"]) == versions_before
    for version in versions_before:
        assert (first_run["layout"].serving_directory / version / "saved_model.pb").exists()


def test_a_first_run_is_held_to_the_absolute_threshold_only(tmp_path: Path) -> None:
    config = _config(tmp_path, "--blessing_thresholds=auc:0.99")
    assert run_local_pipeline(config).succeeded
    summary = collect_run_summary(config, LocalLayout.for_config(config))
    assert summary["blessed"] is False
    assert summary["not_blessed_because"] == [
        f"auc = {summary['metrics']['Overall']['auc']:.4f} fails the minimum 0.99"]
    assert _pushed_versions(LocalLayout.for_config(config)) == []
