"""`vertex_runner.py dry-run` on broken specs: the first task that cannot run stops the
dry run, named with its reason; the cache key and the replicas' cluster as Vertex AI
defines them. (The whole dry runs of --variant=vertex on gs://, which need the BigQuery
emulator, are in tests/test_vertex_on_storage.py.)"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from pipeline.cli import dry_run_options
from pipeline.orchestration import vertex
from pipeline.orchestration.vertex_dry_run import (
    DryRunError,
    cache_key,
    dry_run,
    replica_count,
    replica_environments,
    task_parameters,
)
from pipeline.settings.loading import load_config
from pipeline.settings.values import ConfigError

CLOUD = ("--variant=vertex", "--gcp_project=tipper-project",
         "--gcs_root=gs://tipper-bucket/tfx")


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("dry-run-spec")
    config = load_config([*CLOUD, f"--output_root={root}"], environ={})
    return vertex.compile_pipeline(config, root / "pipeline.json")


def _executor(spec: dict, task: str) -> dict:
    pipeline_spec = spec["pipelineSpec"]
    component = pipeline_spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
    label = pipeline_spec["components"][component]["executorLabel"]
    return pipeline_spec["deploymentSpec"]["executors"][label]


def test_a_misspelt_executor_path_stops_the_dry_run_naming_the_task(
        spec: dict, tmp_path: Path) -> None:
    broken = copy.deepcopy(spec)
    arguments = _executor(broken, "ExampleGen")["container"]["args"]
    at = arguments.index("--executor_class_path") + 1
    arguments[at] = "pipeline.components.bigquery_example_gen.BigQueryExecuter"
    lines: list[str] = []
    with pytest.raises(DryRunError, match=r"^ExampleGen failed .*BigQueryExecuter"):
        dry_run(broken, tmp_path, echo=lines.append)
    assert any("ExampleGen" in line and "FAILED" in line for line in lines)


def test_a_parameter_removed_from_the_json_stops_the_dry_run_naming_the_task(
        spec: dict, tmp_path: Path) -> None:
    broken = copy.deepcopy(spec)
    del broken["pipelineSpec"]["root"]["dag"]["tasks"]["ExampleGen"]["inputs"][
        "parameters"]["input_config"]
    with pytest.raises(DryRunError, match=r"^ExampleGen failed .*input_config"):
        dry_run(broken, tmp_path, bigquery_endpoint="http://127.0.0.1:9")


def _key(spec: dict, task: str, inputs: dict) -> str:
    pipeline_spec = spec["pipelineSpec"]
    compiled = pipeline_spec["root"]["dag"]["tasks"][task]
    component = pipeline_spec["components"][compiled["componentRef"]["name"]]
    return cache_key(compiled, component, _executor(spec, task)["container"], inputs,
                     task_parameters(compiled))


def test_the_cache_key_follows_input_artifactstask_parameters_and_the_command(spec: dict) -> None:
    """As Vertex AI's: the same inputs give the same key; a new upstream artifact (a new
    name), a changed parameter or a changed command gives another."""
    inputs = {"examples": [{"name": "run-1/ExampleGen/examples", "uri": "gs://b/1"}]}
    same = _key(spec, "StatisticsGen", inputs)
    assert _key(spec, "StatisticsGen", copy.deepcopy(inputs)) == same
    assert _key(spec, "StatisticsGen", {"examples": [
        {"name": "run-2/ExampleGen/examples", "uri": "gs://b/1"}]}) != same
    changed = copy.deepcopy(spec)
    parameters = changed["pipelineSpec"]["root"]["dag"]["tasks"]["StatisticsGen"]["inputs"][
        "parameters"]
    name = sorted(parameters)[0]
    parameters[name]["runtimeValue"]["constantValue"] = {"stringValue": "changed"}
    assert _key(changed, "StatisticsGen", inputs) != same
    _executor(changed, "Transform")["container"]["image"] = "another:image"
    assert _key(changed, "Transform", {}) != _key(spec, "Transform", {})


def test_replicas_get_the_cluster_vertex_ai_training_sets(tmp_path: Path) -> None:
    config = load_config([*CLOUD, f"--output_root={tmp_path}", "--trainer_replica_count=3"],
                         environ={})
    spec = vertex.compile_pipeline(config, tmp_path / "pipeline.json")
    trainer = spec["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]
    assert replica_count(task_parameters(trainer)) == 3
    chief, first, second = replica_environments(3)
    cluster = json.loads(chief["TF_CONFIG"])["cluster"]
    assert len(cluster["chief"]) == 1 and len(cluster["worker"]) == 2
    assert [json.loads(replica["TF_CONFIG"])["task"] for replica in (chief, first, second)] \
        == [{"type": "chief", "index": 0}, {"type": "worker", "index": 0},
            {"type": "worker", "index": 1}]
    assert json.loads(second["CLUSTER_SPEC"])["task"] == {"type": "workerpool1", "index": 1}
    assert json.loads(chief["CLUSTER_SPEC"])["cluster"]["workerpool0"] == cluster["chief"]
    assert replica_environments(1) == [{}]


def test_the_dry_runs_own_flags_are_not_settings() -> None:
    assert dry_run_options(["--variant=vertex", "--cache", "--storage=local"]) == (
        ["--variant=vertex"], {"storage": "local", "cache": True})
    assert dry_run_options([])[1] == {"storage": "emulator", "cache": False}
    with pytest.raises(ConfigError, match="--storage=s3"):
        dry_run_options(["--storage=s3"])
