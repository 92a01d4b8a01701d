"""`lineage.py` on a real store: two local runs on testdata/ with one setting changed
between them, checked against ML Metadata queried directly."""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2

import lineage as lineage_cli
from pipeline.metadata.run_record import attach_run_record, run_record_of
from pipeline.metadata.store import open_store
from pipeline.orchestration.layout import LocalLayout
from pipeline.settings import REPOSITORY_ROOT
from tests.shared_runs import TWO_PUSHED_RUNS

pytestmark = [pytest.mark.e2e(minutes=2.5), pytest.mark.shares(TWO_PUSHED_RUNS, writes=False)]


@pytest.fixture(scope="module")
def two_runs(two_pushed_runs: dict) -> Path:
    """Run 1 with the defaults, run 2 with dropout changed (only the Trainer's input): the
    session's runs (tests/shared_runs.py), which this module only reads."""
    return two_pushed_runs["root"]


def cli(root: Path, *arguments: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = lineage_cli.main([*arguments, f"--output_root={root}"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_json(root: Path, *arguments: str, capsys: pytest.CaptureFixture[str]) -> object:
    code, out, err = cli(root, *arguments, "--json", capsys=capsys)
    assert code == 0, err
    return json.loads(out)


def store_digest(root: Path) -> str:
    return hashlib.sha256((root / "metadata.sqlite").read_bytes()).hexdigest()


def test_runs_lists_both_runs(two_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = cli_json(two_runs, "runs", capsys=capsys)
    assert [(row["run"], row["status"], row["variant"]) for row in rows] == [
        (1, "succeeded", "default"), (2, "succeeded", "default")]
    assert rows[0]["blessed"] is True and rows[0]["pushed"]
    assert all(0.85 < row["auc"] <= 1 for row in rows)
    code, text, _ = cli(two_runs, "runs", capsys=capsys)
    assert code == 0
    assert text.splitlines()[1].split()[:8] == ["run", "started", "user", "commit", "variant",
                                                "architecture", "status", "auc"]
    # Each run says who ran it and from which commit (a shared store holds a team's runs).
    assert {(row["user"], len(row["commit"])) for row in rows} == {(getpass.getuser(), 12)}
    assert max(len(line) for line in text.splitlines()[1:]) <= 120


def test_show_gives_the_upstream_chain_that_ml_metadata_holds(
        two_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = cli_json(two_runs, "show", "latest", capsys=capsys)
    store = open_store(two_runs / "metadata.sqlite")
    pushed = max((a for a in store.get_artifacts_by_type("PushedModel")
                  if a.custom_properties["pushed"].int_value), key=lambda a: a.id)
    assert report["pushed"]["id"] == pushed.id
    assert report["pushed"]["destination"].startswith(str(two_runs / "serving"))

    # Walk the same chain by hand: each step's producer and its inputs, from the events.
    def producer(artifact_id: int) -> int:
        return min(e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                   if e.type == metadata_store_pb2.Event.OUTPUT)

    def inputs(execution_id: int) -> dict[str, int]:
        events = [e for e in store.get_events_by_execution_ids([execution_id])
                  if e.type == metadata_store_pb2.Event.INPUT]
        return {store.get_artifacts_by_id([e.artifact_id])[0].type: e.artifact_id
                for e in events}

    pusher = producer(pushed.id)
    model_id = inputs(pusher)["Model"]
    trainer = producer(model_id)
    transform = producer(inputs(trainer)["TransformGraph"])
    example_gen = producer(inputs(transform)["Examples"])
    chain = {step["component"]: step["execution"] for step in report["chain"]}
    assert chain["Pusher"] == pusher and chain["Trainer"] == trainer
    assert chain["Transform"] == transform and chain["ExampleGen"] == example_gen
    assert report["model"]["id"] == model_id
    assert set(chain) == {"Pusher", "ServingSandbox", "Evaluator", "Trainer", "Transform",
                          "ImportCuratedSchema", "ExampleGen"}
    # The sandbox's verdict on the model, with its figures.
    assert report["sandbox"]["blessed"] == 1 and report["sandbox"]["latency_p99_ms"] > 0
    # Run 2 changed only the Trainer's input, so Transform and ExampleGen come from run 1.
    runs = {step["component"]: step["run"] for step in report["chain"]}
    assert runs["Trainer"] == 2 and runs["Transform"] == 1 and runs["ExampleGen"] == 1
    trainer_step = next(step for step in report["chain"] if step["component"] == "Trainer")
    assert trainer_step["settings"]["dropout"] == 0.2

    record = report["run_record"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPOSITORY_ROOT, text=True,
                          capture_output=True, check=True).stdout.strip()
    assert record["git_commit"] == head
    assert record["config"]["dropout"] == 0.2
    assert record["libraries"]["tfx"] == importlib.metadata.version("tfx")
    assert record["libraries"]["tensorflow"] == importlib.metadata.version("tensorflow")
    assert record["lock_sha256"] == hashlib.sha256(
        (REPOSITORY_ROOT / "requirements.lock").read_bytes()).hexdigest()
    assert record["data"] == {"source": "file", "files": {
        "testdata/taxi_trips.jsonl": hashlib.sha256(
            (REPOSITORY_ROOT / "testdata/taxi_trips.jsonl").read_bytes()).hexdigest()}}
    assert record["status"] == "succeeded" and record["ended_at"] >= record["started_at"]
    assert report["anomalies"] == [] and report["blessed"] is True
    assert report["evaluation"]["Overall"]["auc"] > 0.85

    code, text, _ = cli(two_runs, "show", capsys=capsys)
    assert code == 0
    assert f"pushed as version {report['pushed']['version']}" in text
    assert f"Trainer (execution {trainer}, run 2)" in text
    assert "dropout=0.2" in text and "Anomalies (statistics" in text


def test_show_by_artifact_id_and_pushed_version_agree(
        two_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    latest = cli_json(two_runs, "show", capsys=capsys)
    by_version = cli_json(two_runs, "show", str(latest["pushed"]["version"]), capsys=capsys)
    by_model_id = cli_json(two_runs, "show", str(latest["model"]["id"]), capsys=capsys)
    assert by_version["model"] == latest["model"] == by_model_id["model"]
    first = cli_json(two_runs, "runs", capsys=capsys)[0]
    first_model = cli_json(two_runs, "show", str(first["pushed"]), capsys=capsys)
    assert first_model["model"]["id"] != latest["model"]["id"]
    assert first_model["run_record"]["config"]["dropout"] == 0.1


def test_diff_shows_exactly_the_change(two_runs: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    differences = cli_json(two_runs, "diff", "1", "2", capsys=capsys)
    assert differences["configuration"] == {"dropout": [0.1, 0.2]}
    assert differences["code"] == {} and differences["data"] == {}
    assert differences["libraries"] == {}
    assert set(differences["metrics"]) <= {"auc", "log_loss_skill", "accuracy", "precision",
                                           "recall", "calibration"}
    code, text, _ = cli(two_runs, "diff", "previous", "latest", capsys=capsys)
    assert code == 0
    assert "  dropout: 0.1000 -> 0.2000" in text
    assert "code: same" in text and "data: same" in text and "libraries: same" in text


def test_graph_exports_dot_and_a_rendered_picture(
        two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli_json(two_runs, "graph", "--format=dot", f"--out={tmp_path / 'g.dot'}",
                      capsys=capsys)
    dot = (tmp_path / "g.dot").read_text()
    assert dot == result["dot"] and dot.startswith("digraph lineage {")
    assert dot.count("shape=box") == 7  # the seven steps upstream of the pushed model
    svg_code, _, err = cli(two_runs, "graph", f"--out={tmp_path / 'g.svg'}", capsys=capsys)
    assert svg_code == 0, err
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "Trainer" in svg and "PushedModel" in svg
    assert cli(two_runs, "graph", "--format=png", f"--out={tmp_path / 'g.png'}",
               capsys=capsys)[0] == 0
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    default = cli_json(two_runs, "graph", "--format=dot", capsys=capsys)["path"]
    assert Path(default).parent == two_runs / "lineage"  # never into the source tree


@pytest.mark.parametrize(("arguments", "message"), [
    (("show", "424242"), "Unknown model '424242': give a pushed version"),
    (("diff", "1", "9"), "Unknown run '9': runs are numbered 1 to 2"),
    (("diff", "1"), "expects 2 id(s), got 1"),
    (("runs", "--pipeline_name=other-pipeline"),
     "holds pipeline(s) big-tipper, not 'other-pipeline'"),
    (("reproduce", "banana"), "Unknown run 'banana'"),
])
def test_bad_ids_give_one_line_and_leave_the_store_alone(
        two_runs: Path, arguments: tuple[str, ...], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = store_digest(two_runs)
    code, out, err = cli(two_runs, *arguments, capsys=capsys)
    assert code == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert store_digest(two_runs) == before


def test_missing_and_empty_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(tmp_path / "nowhere", "runs", capsys=capsys)
    assert code == 1 and "No metadata store at" in err
    assert not (tmp_path / "nowhere").exists()
    open_store(tmp_path / "metadata.sqlite", read_only=False)  # an empty, initialised store
    code, _, err = cli(tmp_path, "show", capsys=capsys)
    assert code == 1 and "holds no runs yet" in err


def test_reproduce_refuses_a_changed_commit_unless_forced(
        two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A copy of the store whose run 1 claims another commit (the test writes the copy;
    # lineage.py never writes).
    shutil.copy(two_runs / "metadata.sqlite", tmp_path / "metadata.sqlite")
    store = open_store(tmp_path / "metadata.sqlite", read_only=False)
    [_, run_one] = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: -c.id)
    record = run_record_of(run_one)
    attach_run_record(store, run_one.id, dataclasses.replace(record, git_commit="0" * 40))
    code, _, err = cli(tmp_path, "reproduce", "1", capsys=capsys)
    assert code == 1
    assert "Refusing to reproduce run 1: code: run 1 used 000000000000" in err
    assert "Pass --force" in err


def test_reproduce_reruns_from_the_record_within_tolerance(
        two_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = store_digest(two_runs)
    result = cli_json(two_runs, "reproduce", "2", capsys=capsys)
    assert result["within_tolerance"] is True and result["mismatches"] == []
    original_auc, reproduced_auc = result["metrics"]["auc"]
    assert abs(original_auc - reproduced_auc) <= result["tolerance"] == 0.01
    reproduction = Path(result["output_root"])
    assert reproduction.parent == two_runs / "reproductions"
    config = json.loads(next((reproduction / "runs").glob("*/config.json")).read_text())
    assert config["dropout"] == 0.2
    assert store_digest(two_runs) == before
    assert LocalLayout(reproduction).metadata_path.exists()
