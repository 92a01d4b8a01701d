"""`create_pipeline` builds and compiles for both data sources without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tfx.dsl.compiler.compiler import Compiler
from tfx.proto import example_gen_pb2
from tfx.utils import proto_utils

from pipeline.bigquery import bigquery_query
from pipeline.config import PipelineConfig
from pipeline.definition import create_pipeline

COMPONENTS = ["ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DataAnomalyGate",
         "Transform", "Trainer", "LatestBlessedModelResolver", "Evaluator", "Pusher"]


def _build(config: PipelineConfig, tmp_path: Path):
    return create_pipeline(config, pipeline_root=str(tmp_path / "root"),
                           serving_directory=str(tmp_path / "serving"))


@pytest.mark.parametrize("data_source", ["file", "bigquery"])
def test_pipeline_compiles_with_every_component(data_source: str, tmp_path: Path) -> None:
    pipeline = _build(PipelineConfig(data_source=data_source), tmp_path)
    assert {component.id for component in pipeline.components} == set(COMPONENTS)
    compiled = Compiler().compile(pipeline)
    node_ids = {node.pipeline_node.node_info.id for node in compiled.nodes}
    assert node_ids == set(COMPONENTS)


def test_transform_waits_for_the_anomaly_gate(tmp_path: Path) -> None:
    components = {c.id: c for c in _build(PipelineConfig(), tmp_path).components}
    assert "DataAnomalyGate" in {node.id for node in components["Transform"].upstream_nodes}


def test_bigquery_source_uses_the_generated_query(tmp_path: Path) -> None:
    config = PipelineConfig(data_source="bigquery", bigquery_sample_percent=10.0)
    (example_gen,) = (c for c in _build(config, tmp_path).components if c.id == "ExampleGen")
    assert type(example_gen).__name__ == "BigQueryExampleGen"
    input_config = proto_utils.json_to_proto(example_gen.exec_properties["input_config"],
                                             example_gen_pb2.Input())
    assert input_config.splits[0].pattern == bigquery_query(config)


def test_file_source_reads_the_configured_path(tmp_path: Path) -> None:
    config = PipelineConfig()
    (example_gen,) = (c for c in _build(config, tmp_path).components if c.id == "ExampleGen")
    data_path = Path(config.resolved_data_path())
    assert example_gen.exec_properties["input_base"] == str(data_path.parent)
    input_config = proto_utils.json_to_proto(example_gen.exec_properties["input_config"],
                                             example_gen_pb2.Input())
    assert input_config.splits[0].pattern == data_path.name
    output_config = proto_utils.json_to_proto(example_gen.exec_properties["output_config"],
                                              example_gen_pb2.Output())
    buckets = {s.name: s.hash_buckets for s in output_config.split_config.splits}
    assert buckets == {"train": 100 - config.eval_percent, "eval": config.eval_percent}


def test_trainer_receives_the_whole_configuration(tmp_path: Path) -> None:
    config = PipelineConfig(architecture="deep", epochs=3)
    (trainer,) = (c for c in _build(config, tmp_path).components if c.id == "Trainer")
    custom_config = json.loads(trainer.exec_properties["custom_config"])
    assert custom_config["pipeline_config"] == config.to_dict()
    assert custom_config["code"]  # the code fingerprint that invalidates the cache


def test_code_changes_change_the_fingerprints(tmp_path: Path, monkeypatch) -> None:
    from pipeline import definition

    before = definition.source_fingerprint(["preprocessing.py"])
    copy = tmp_path / "preprocessing.py"
    copy.write_text((definition.REPOSITORY_ROOT / "preprocessing.py").read_text() + "\n# edit\n")
    monkeypatch.setattr(definition, "REPOSITORY_ROOT", tmp_path)
    assert definition.source_fingerprint(["preprocessing.py"]) != before
