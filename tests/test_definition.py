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

COMPONENTS = ["ExampleGen", "StatisticsGen", "ImportCuratedSchema", "ExampleValidator",
              "LastAcceptedStatisticsResolver", "DataAnomalyGate", "Transform", "Trainer",
              "LatestBlessedModelResolver", "Evaluator", "ModelReportGen", "Pusher"]


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


def _custom_config(pipeline, component_id: str) -> dict:
    (component,) = (c for c in pipeline.components if c.id == component_id)
    return json.loads(component.exec_properties["custom_config"])


def test_trainer_receives_the_training_settings_only(tmp_path: Path) -> None:
    config = PipelineConfig(architecture="deep", epochs=3)
    settings = _custom_config(_build(config, tmp_path), "Trainer")["training_settings"]
    assert settings["architecture"] == "deep" and settings["epochs"] == 3
    # Evaluation and run-location settings stay out of the Trainer's cache key.
    other = PipelineConfig(architecture="deep", epochs=3, min_auc=0.5, variant="x",
                           slice_features=("company",), output_root="/elsewhere")
    assert _custom_config(_build(other, tmp_path), "Trainer") == _custom_config(
        _build(config, tmp_path), "Trainer")


def test_editing_model_code_invalidates_the_trainer_but_not_transform(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from pipeline import definition

    for relative in ("preprocessing.py", "models", "pipeline", "evaluation"):
        source = definition.REPOSITORY_ROOT / relative
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / relative)
    monkeypatch.setattr(definition, "REPOSITORY_ROOT", tmp_path)
    before = _build(PipelineConfig(), tmp_path)
    with (tmp_path / "models" / "deep.py").open("a") as handle:
        handle.write("\n# an edit\n")
    after = _build(PipelineConfig(), tmp_path)
    assert (_custom_config(after, "Trainer")["code"]
            != _custom_config(before, "Trainer")["code"])
    assert (_custom_config(after, "Transform")["code"]
            == _custom_config(before, "Transform")["code"])


def test_curated_schema_text_is_a_parameter_of_the_pipeline(tmp_path: Path) -> None:
    config = PipelineConfig()
    (importer,) = (c for c in _build(config, tmp_path).components
                   if c.id == "ImportCuratedSchema")
    assert importer.exec_properties["schema_text"] == Path(
        config.resolved_schema_path()).read_text()
    inferred = _build(PipelineConfig(schema_path=""), tmp_path)
    assert "SchemaGen" in {c.id for c in inferred.components}


def test_local_pushes_are_atomic_and_object_store_pushes_use_tfx(tmp_path: Path) -> None:
    from tfx.components.pusher.executor import Executor as TfxPushExecutor

    from pipeline.atomic_pusher import AtomicPushExecutor

    def pusher_executor(serving_directory: str) -> type:
        pipeline = create_pipeline(PipelineConfig(), pipeline_root=str(tmp_path / "root"),
                                   serving_directory=serving_directory)
        [pusher] = [c for c in pipeline.components if c.id == "Pusher"]
        return pusher.executor_spec.executor_class

    assert pusher_executor(str(tmp_path / "serving")) is AtomicPushExecutor
    assert pusher_executor("gs://bucket/serving") is TfxPushExecutor
