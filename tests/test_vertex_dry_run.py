"""`vertex_runner.py dry-run` on broken specs: the first task that cannot run stops the
dry run, named with its reason. (The whole dry run of --variant=vertex, which needs the
BigQuery emulator, is in tests/test_bigquery_emulator.py.)"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from pipeline.orchestration import vertex
from pipeline.orchestration.vertex_dry_run import DryRunError, dry_run
from pipeline.settings.loading import load_config

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
