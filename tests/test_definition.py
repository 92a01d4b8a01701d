"""`create_pipeline` builds and compiles for both data sources without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tfx.dsl.compiler.compiler import Compiler
from tfx.proto import example_gen_pb2
from tfx.utils import proto_utils

from pipeline.definition import create_pipeline
from pipeline.settings import REPOSITORY_ROOT, PipelineConfig
from pipeline.settings.bigquery import bigquery_query
from pipeline.targets import local_target
from tests.configs import CURATED_SCHEMA_NODES, taxi_config

COMPONENTS = CURATED_SCHEMA_NODES


def _build(config: PipelineConfig, tmp_path: Path):
    return create_pipeline(config, local_target(str(tmp_path / "root"),
                                                str(tmp_path / "serving")))


@pytest.mark.parametrize("data_source", ["file", "bigquery"])
def test_pipeline_compiles_with_every_component(data_source: str, tmp_path: Path) -> None:
    pipeline = _build(taxi_config(data_source=data_source), tmp_path)
    assert {component.id for component in pipeline.components} == set(COMPONENTS)
    compiled = Compiler().compile(pipeline)
    node_ids = {node.pipeline_node.node_info.id for node in compiled.nodes}
    assert node_ids == set(COMPONENTS)


def test_transform_waits_for_the_anomaly_gate(tmp_path: Path) -> None:
    components = {c.id: c for c in _build(taxi_config(), tmp_path).components}
    assert "DataAnomalyGate" in {node.id for node in components["Transform"].upstream_nodes}


def test_bigquery_source_uses_the_generated_query(tmp_path: Path) -> None:
    config = taxi_config(data_source="bigquery", bigquery_sample_percent=10.0)
    (example_gen,) = (c for c in _build(config, tmp_path).components if c.id == "ExampleGen")
    assert type(example_gen).__name__ == "BigQueryExampleGen"
    input_config = proto_utils.json_to_proto(example_gen.exec_properties["input_config"],
                                             example_gen_pb2.Input())
    assert input_config.splits[0].pattern == bigquery_query(config)


def test_file_source_reads_the_configured_path(tmp_path: Path) -> None:
    config = taxi_config()
    (example_gen,) = (c for c in _build(config, tmp_path).components if c.id == "ExampleGen")
    data_path = Path(config.resolved_data_path())
    assert example_gen.exec_properties["input_base"] == str(data_path.parent)
    input_config = proto_utils.json_to_proto(example_gen.exec_properties["input_config"],
                                             example_gen_pb2.Input())
    assert input_config.splits[0].pattern == data_path.name
    output_config = proto_utils.json_to_proto(example_gen.exec_properties["output_config"],
                                              example_gen_pb2.Output())
    buckets = {s.name: s.hash_buckets for s in output_config.split_config.splits}
    assert buckets == {"train": 100 - config.eval_percent - config.validation_percent,
                       "validation": config.validation_percent, "eval": config.eval_percent}


def _custom_config(pipeline, component_id: str) -> dict:
    (component,) = (c for c in pipeline.components if c.id == component_id)
    return json.loads(component.exec_properties["custom_config"])


def test_trainer_receives_the_training_settings_only(tmp_path: Path) -> None:
    config = taxi_config(architecture="deep", epochs=3)
    settings = _custom_config(_build(config, tmp_path), "Trainer")["training_settings"]
    assert settings["architecture"] == "deep" and settings["epochs"] == 3
    # Evaluation and run-location settings stay out of the Trainer's cache key.
    other = taxi_config(architecture="deep", epochs=3, blessing_thresholds={"auc": 0.5},
                        variant="x",
                        slice_features=("company",), output_root="/elsewhere")
    assert _custom_config(_build(other, tmp_path), "Trainer") == _custom_config(
        _build(config, tmp_path), "Trainer")


def _properties(pipeline) -> dict[str, str]:
    """Each component's execution properties, the part of TFX's cache key a code edit can
    change (a component whose properties change runs again instead of coming from cache)."""
    return {component.id: json.dumps(component.exec_properties, sort_keys=True, default=str)
            for component in pipeline.components}


# A file, and the components whose code imports it (directly or through other modules):
# editing the file must change exactly their cache keys.
EDITS = {
    "models/architectures/deep.py": {"Tuner", "Trainer"},  # loaded by the registry, by name
    "pipeline/settings/search_space.py": {"Tuner"},
    "models/package.py": {"Trainer", "ModelReportGen"},
    "evaluation/results.py": {"ModelReportGen"},
    "evaluation/report.py": {"ModelReportGen"},
    "preprocessing.py": {"Transform", "Tuner", "Trainer"},
    "pipeline/analyzers.py": {"Transform", "Tuner", "Trainer"},  # through preprocessing.py
    "pipeline/settings/label.py": {"ExampleGen"},
    "pipeline/components/anomaly_gate.py": {"DataAnomalyGate"},
    "pipeline/components/atomic_pusher.py": {"Pusher"},
    # The errors leaf: every component that types settings or reports a data error.
    "pipeline/settings/values.py": {"ExampleGen", "DataAnomalyGate", "Transform", "Tuner",
                                    "Trainer", "ServingSandbox", "ModelReportGen"},
    # A task's parts: each reaches exactly the steps that run it.
    "tasks/binary/model.py": {"Tuner", "Trainer"},
    "tasks/binary/graph.py": {"Transform", "Tuner", "Trainer"},
    "tasks/binary/judge.py": {"ModelReportGen"},
    # The sandbox's server runs in a process of its own, started by module name.
    "pipeline/serving/model_server.py": {"ServingSandbox"},
    # Nothing a component runs imports these: the CLI, and checks run before the pipeline.
    "pipeline/cli.py": set(),
    "pipeline/settings/loading.py": set(),
}


@pytest.mark.parametrize("edited", sorted(EDITS))
def test_editing_code_changes_the_cache_key_of_exactly_its_importers(
        edited: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from pipeline import fingerprint

    for relative in ("preprocessing.py", "models", "pipeline", "evaluation", "tasks"):
        source = REPOSITORY_ROOT / relative
        if source.is_dir():
            shutil.copytree(source, tmp_path / relative,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / relative)
    monkeypatch.setattr(fingerprint, "REPOSITORY_ROOT", tmp_path)
    config = taxi_config(hyperparameter_search="random")
    before = _properties(_build(config, tmp_path))
    assert before == _properties(_build(config, tmp_path))  # stable when nothing changes
    with (tmp_path / edited).open("a") as handle:
        handle.write("\n# an edit\n")
    after = _properties(_build(config, tmp_path))
    changed = {component for component in before if before[component] != after[component]}
    assert changed == EDITS[edited]


def test_an_entry_outside_code_entries_is_refused() -> None:
    from pipeline.definition import code_of

    with pytest.raises(ValueError, match="not in CODE_ENTRIES"):
        code_of("models.other.run_fn")


def test_curated_schema_text_is_a_parameter_of_the_pipeline(tmp_path: Path) -> None:
    config = taxi_config()
    (importer,) = (c for c in _build(config, tmp_path).components
                   if c.id == "ImportCuratedSchema")
    assert importer.exec_properties["schema_text"] == Path(
        config.resolved_schema_path()).read_text()
    inferred = _build(taxi_config(schema_path=""), tmp_path)
    assert "SchemaGen" in {c.id for c in inferred.components}


def test_local_pushes_are_atomic_and_object_store_pushes_use_tfx(tmp_path: Path) -> None:
    from tfx.components.pusher.executor import Executor as TfxPushExecutor

    from pipeline.components.atomic_pusher import AtomicPushExecutor, ObjectStorePushExecutor

    def pusher_executor(serving_directory: str) -> type:
        pipeline = create_pipeline(taxi_config(), local_target(str(tmp_path / "root"),
                                                               serving_directory))
        [pusher] = [c for c in pipeline.components if c.id == "Pusher"]
        return pusher.executor_spec.executor_class

    assert pusher_executor(str(tmp_path / "serving")) is AtomicPushExecutor
    # TFX's own push, of the serving sandbox's copy of the model.
    assert pusher_executor("gs://bucket/serving") is ObjectStorePushExecutor
    assert issubclass(ObjectStorePushExecutor, TfxPushExecutor)


def test_building_the_pipeline_loads_none_of_the_model_code() -> None:
    """The definition reads the settings each step takes from their declarations: it loads
    none of the code the components run (the Trainer's, the Tuner's, Transform's, the
    report's). TFX itself imports TensorFlow, Keras and keras-tuner, so those say nothing."""
    import subprocess
    import sys

    code = ("import sys, tempfile; import pipeline.keras_choice; "
            # The dataset file read here: pipeline.settings.loading would load the model registry.
            "import yaml; from pipeline.settings import PipelineConfig, apply_overrides; "
            "taxi = yaml.safe_load(open('datasets/taxi.yaml')); "
            "from pipeline.definition import create_pipeline; "
            "from pipeline.targets import local_target; "
            "root = tempfile.mkdtemp(); "
            "create_pipeline(apply_overrides(PipelineConfig(), {**taxi, "
            "'hyperparameter_search': 'random'}, 'test'), local_target(root, root)); "
            "print(sorted(m for m in sys.modules if m.startswith(('models.', 'preprocessing', "
            "'evaluation.report'))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY_ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_kind_has_its_steps_registered(tmp_path: Path) -> None:
    from pipeline.kinds import (
        ContinuousEvaluation,
        DataOnly,
        ModelReference,
        Scoring,
        TrainAll,
        Training,
        kinds,
    )

    config = taxi_config(evaluation_data_path="testdata/taxi_trips.jsonl")
    evaluation = ContinuousEvaluation(ModelReference("/model", "/evaluation", "/statistics",
                                                     "/schema"), {"7": "/other-model"})
    built = {type(kind).__name__: create_pipeline(
        config, local_target(str(tmp_path), str(tmp_path)), kind)
        for kind in (Training(), TrainAll({"a": config}), Scoring("/model"), DataOnly(),
                     evaluation)}
    assert set(built) == {kind.__name__ for kind in kinds()}
    names = {kind: pipeline.pipeline_info.pipeline_name for kind, pipeline in built.items()}
    assert names == {"Training": "big-tipper", "TrainAll": "big-tipper-train-all",
                     "Scoring": "big-tipper-scoring", "DataOnly": "big-tipper-data",
                     "ContinuousEvaluation": "big-tipper-evaluation"}
    assert "Pusher" not in {node.id for node in built["TrainAll"].components}
    assert {node.id for node in built["Scoring"].components} == {
        "ScoringExampleGen", "PushedModelImporter", "BatchScorer"}
    assert {node.id for node in built["ContinuousEvaluation"].components} == {
        "FreshExampleGen", "FreshStatisticsGen", "PushedModelImporter",
        "BlessingTimeEvaluationImporter", "TrainingStatisticsImporter",
        "TrainingSchemaImporter", "FreshEvaluator", "ModelHealthCheck",
        "ChallengerImporter_7", "ABComparison_7"}


def test_every_artifact_type_imports_by_its_vertex_title() -> None:
    """Vertex's executor entry point imports an artifact's class by its schema title."""
    import importlib
    import pkgutil

    from tfx.types.artifact import Artifact

    import pipeline

    declared = {}
    for package in ("pipeline.components", "pipeline.serving"):
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
            loaded = importlib.import_module(f"{package}.{module.name}")
            declared.update({value.TYPE_NAME: value for value in vars(loaded).values()
                             if isinstance(value, type) and issubclass(value, Artifact)
                             and str(value.TYPE_NAME).startswith("pipeline.")})
    assert len(declared) >= 3
    for title, artifact_type in declared.items():
        assert getattr(pipeline, title.split(".", 1)[1]) is artifact_type
