"""Train-all end to end on testdata/: the data steps once, a tuned variant and a plain one
trained on the same Transform output, compared, and recorded in ML Metadata; nothing is
pushed. The tuned variant also covers the Tuner step and its hand-over to the Trainer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import train_all
from models.package import PACKAGE_DIRECTORY
from pipeline.kinds import TrainAll
from pipeline.metadata.store import latest_run_context, open_store, outputs_of
from pipeline.orchestration.layout import LocalLayout
from pipeline.orchestration.train_all import COMPARISON_PROPERTY_PREFIX, model_variants
from pipeline.settings.values import ConfigError
from tests.configs import taxi_config
from tests.helpers import read_report

FLAGS = ["--epochs=1", "--hidden_units=16", "--search_trials=2", "--search_epochs=1",
         "--search_space={\"learning_rate\": \"0.001..0.02 log\", \"hidden_units\": \"8 | 16,8\"}"]


def test_only_variants_that_change_the_model_are_trained() -> None:
    variants, skipped = model_variants([], environ={})
    assert {"default", "deep", "deep_and_cross", "feature_transformer", "tuned"} <= set(variants)
    assert "full_sample" in skipped and "data_path" in skipped["full_sample"]
    assert variants["deep"].architecture == "deep"
    # Flags win over the variant's own settings, for every variant.
    variants, _ = model_variants(["--learning_rate=0.05"], environ={}, only=["feature_transformer"])
    assert list(variants) == ["feature_transformer"]
    assert variants["feature_transformer"].learning_rate == 0.05
    # On another data variant, each model variant keeps that data.
    variants, _ = model_variants(["--variant=full_sample"], environ={}, only=["deep"])
    assert variants["deep"].data_path.startswith("package://")
    assert variants["deep"].variant == "full_sample+deep"
    with pytest.raises(ConfigError, match="unknown variant 'resnet'"):
        model_variants([], environ={}, only=["resnet"])


@pytest.fixture(scope="module")
def train_all_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("train_all")
    argv = [f"--output_root={root}", "--variants=deep_and_cross,tuned", *FLAGS]
    assert train_all.main(argv) == 0
    layout = LocalLayout(root)
    (run_directory,) = (layout.root / "runs").iterdir()
    return {"layout": layout, "run_directory": run_directory}


def _executions_by_node(layout: LocalLayout) -> dict[str, list]:

    store = open_store(layout.metadata_path)
    run = latest_run_context(store, TrainAll.pipeline_name(taxi_config()))
    by_node: dict[str, list] = {}
    for execution in store.get_executions_by_context(run.id):
        for context in store.get_contexts_by_execution(execution.id):
            if context.type == "node":
                by_node.setdefault(context.name.split(".", 1)[1], []).append(execution)
    return by_node


@pytest.mark.e2e
def test_data_steps_run_once_and_each_variant_trains_on_them(train_all_run: dict) -> None:
    by_node = _executions_by_node(train_all_run["layout"])
    for step in ("ExampleGen", "StatisticsGen", "Transform"):
        assert len(by_node[step]) == 1
    assert {"Trainer_deep_and_cross", "Evaluator_deep_and_cross", "ModelReportGen_tuned",
            "Tuner_tuned", "Trainer_tuned", "Evaluator_tuned"} <= set(by_node)
    assert "Tuner_deep_and_cross" not in by_node and "Pusher" not in by_node
    # Nothing pushed, and the production pipeline has no run at all.
    assert not (train_all_run["layout"].serving_directory).exists()
    store = open_store(train_all_run["layout"].metadata_path)
    assert store.get_context_by_type_and_name("pipeline", "big-tipper") is None


@pytest.mark.e2e
def test_the_comparison_is_printed_written_and_recorded(train_all_run: dict) -> None:
    directory = train_all_run["run_directory"]
    rows = list(csv.DictReader((directory / "comparison.csv").open()))
    assert {row["variant"] for row in rows} == {"deep_and_cross", "tuned"}
    for row in rows:
        assert 0.5 < float(row["auc"]) <= 1
        assert float(row["training_seconds"]) > 0 and int(row["parameters"]) > 0
        assert float(row["size_bytes"]) > 100_000  # a SavedModel with Transform's graph
        assert float(row["examples_per_second"]) > 100 and float(row["latency_ms"]) > 0
        assert Path(row["report"]).exists()
    assert (directory / "comparison.png").read_bytes()[:4] == b"\x89PNG"

    store = open_store(train_all_run["layout"].metadata_path)
    models = store.get_artifacts_by_type("Model")
    recorded = {model.custom_properties[COMPARISON_PROPERTY_PREFIX + "variant"].string_value:
                model for model in models}
    assert set(recorded) == {"deep_and_cross", "tuned"}
    auc = recorded["tuned"].custom_properties[COMPARISON_PROPERTY_PREFIX + "auc"].double_value
    by_variant = {row["variant"]: row for row in rows}
    assert auc == pytest.approx(float(by_variant["tuned"]["auc"]))


@pytest.mark.e2e
def test_the_tuner_searches_and_the_trainer_uses_the_best_trial(train_all_run: dict) -> None:
    by_node = _executions_by_node(train_all_run["layout"])
    store = open_store(train_all_run["layout"].metadata_path)
    (tuner,) = by_node["Tuner_tuned"]
    outputs = {artifact.type: artifact for artifact in outputs_of(store, tuner.id)}
    trials = json.loads((Path(outputs["TunerResults"].uri) / "tuner_results.json").read_text())
    assert len(trials) == 2
    best = max(trials, key=lambda trial: trial["score"])
    (trainer,) = by_node["Trainer_tuned"]
    (model,) = (a for a in outputs_of(store, trainer.id) if a.type == "Model")
    used = json.loads((Path(model.uri) / PACKAGE_DIRECTORY / "config.json").read_text())
    assert used["learning_rate"] == pytest.approx(best["learning_rate"])
    assert used["hidden_units"] == [int(units) for units in best["hidden_units"].split(",")]
    assert used["architecture"] == "deep"

    rows = {row["variant"]: row for row in
            csv.DictReader((train_all_run["run_directory"] / "comparison.csv").open())}
    report = read_report(Path(rows["tuned"]["report"]))
    assert len(report.tables["search"]) == 2
    assert float(report.tables["search"][0]["eval AUC"]) == pytest.approx(best["score"],
                                                                          abs=1e-3)
    assert report.images == 4  # calibration, importance, search, training curves
    assert "search" not in read_report(Path(rows["deep_and_cross"]["report"])).tables
