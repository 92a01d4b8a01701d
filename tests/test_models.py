"""Every registered architecture builds from Transform's shapes, trains, exports and serves."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models.architectures.tabm import ENSEMBLE_MEMBERS, MemberScaling
from models.export import EXTRA_ASSETS_DIRECTORY, export_serving_model
from models.registry import architecture_names, build_model
from models.shapes import FeatureShapes
from pipeline.settings import PipelineConfig, TrainingSettings
from preprocessing import feature_shapes
from tasks import task_named
from tests.configs import taxi_config
from tests.helpers import (
    sample_rows,
    serialized_examples,
    transform_rows,
    unlabeled_examples,
)


def test_registry_lists_at_least_two_architectures() -> None:
    assert {"deep", "wide_and_deep"} <= set(architecture_names())


def _layers(model: keras.Model, kind: type | None = None, prefix: str = "") -> list:
    return [layer for layer in model.layers
            if (kind is None or isinstance(layer, kind)) and layer.name.startswith(prefix)]


@pytest.mark.parametrize("architecture", architecture_names())
def test_the_registry_builds_the_named_architecture(architecture: str,
                                                    transform_output_dir: Path) -> None:
    settings = TrainingSettings.from_config(
        taxi_config(architecture=architecture, hidden_units=(8, 4), embedding_dim=4))
    shapes = feature_shapes(tft.TFTransformOutput(str(transform_output_dir)), settings)
    model = build_model(architecture, shapes, settings)
    assert model.name == architecture
    # What tells the architectures apart, in the layers actually built.
    attention = _layers(model, keras.layers.MultiHeadAttention)
    cross = _layers(model, keras.layers.Dense, "cross_")
    wide = _layers(model, keras.layers.Embedding, "wide_")
    hidden = _layers(model, keras.layers.Dense, "hidden_")
    ensemble = _layers(model, MemberScaling)
    assert (bool(attention), bool(cross), bool(wide), bool(ensemble)) == {
        "deep": (False, False, False, False), "wide_and_deep": (False, False, True, False),
        "deep_and_cross": (False, True, False, False),
        "feature_transformer": (True, False, False, False),
        "tabm": (False, False, False, True),
    }[architecture]
    assert [layer.units for layer in hidden] == (
        [] if architecture == "feature_transformer" else [8, 4])


@pytest.mark.parametrize("architecture, setting, count_layers", [
    ("deep_and_cross", "cross_layers",
     lambda model: len(_layers(model, keras.layers.Dense, "cross_"))),
    ("feature_transformer", "transformer_blocks",
     lambda model: len(_layers(model, keras.layers.MultiHeadAttention))),
    ("feature_transformer", "attention_heads",
     lambda model: _layers(model, keras.layers.MultiHeadAttention)[0].num_heads),
])
def test_architecture_settings_change_the_network(architecture: str, setting: str,
                                                  count_layers, transform_output_dir: Path
                                                  ) -> None:
    transform_output = tft.TFTransformOutput(str(transform_output_dir))
    built = {}
    for value in (1, 3):
        settings = TrainingSettings.from_config(taxi_config(
            architecture=architecture, embedding_dim=6, **{setting: value}))
        model = build_model(architecture, feature_shapes(transform_output, settings), settings)
        built[value] = (count_layers(model), model.count_params())
    assert built[1][0] == 1 and built[3][0] == 3
    if setting != "attention_heads":  # more heads split the same width: same parameters
        assert built[3][1] > built[1][1]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_tabm_answers_the_members_mean_and_trains_each_member_on_its_own_loss(
        task: str) -> None:
    shapes = FeatureShapes(numeric=("x", "y"), categorical_cardinalities={"c": 5},
                           numeric_width=3, task=task,
                           class_names=("a", "b", "c")
                           if task_named(task).label_through_transform else ())
    settings = TrainingSettings.from_config(taxi_config(
        task=task, architecture="tabm", hidden_units=(8,), embedding_dim=4, dropout=0.0,
        numeric_features=("x", "y"), categorical_features=("c",), bucketized_features=()))
    model = build_model("tabm", shapes, settings)
    generator = np.random.default_rng(0)
    inputs = {"x": generator.normal(size=(6, 3)).astype("float32"),
              "y": generator.normal(size=(6, 3)).astype("float32"),
              "c": generator.integers(0, 5, 6)}
    labels = (generator.integers(0, shapes.outputs, 6) if shapes.outputs > 1
              else generator.integers(0, 2, 6).astype("float32"))
    members = model.members(inputs, training=False).numpy()  # (batch, k, units)
    assert members.shape[1] == ENSEMBLE_MEMBERS
    # The members differ (their random-sign scalings), and the answer is their mean.
    assert not np.allclose(members[:, 0], members[:, 1])
    np.testing.assert_allclose(model(inputs, training=False).numpy(), members.mean(axis=1),
                               rtol=1e-5, atol=1e-6)
    # Training's loss is the mean of the members' losses, not the loss of the mean.
    loss = model.loss
    per_member = np.mean([float(loss(labels, members[:, index]))
                          for index in range(ENSEMBLE_MEMBERS)])
    of_mean = float(loss(labels, members.mean(axis=1)))
    trained = float(model.compute_loss(inputs, labels, None, training=True))
    assert trained == pytest.approx(per_member, rel=1e-4)
    assert abs(per_member - of_mean) > 1e-4
    assert float(model.compute_loss(inputs, labels, model(inputs), training=False)) == \
        pytest.approx(of_mean, rel=1e-4)


def test_unknown_architecture_is_refused(transform_output_dir: Path,
                                         default_config: PipelineConfig) -> None:
    shapes = feature_shapes(tft.TFTransformOutput(str(transform_output_dir)), default_config)
    with pytest.raises(KeyError, match="Unknown architecture 'resnet'"):
        build_model("resnet", shapes, default_config)


@pytest.mark.parametrize("architecture", architecture_names())
def test_architecture_trains_exports_and_serves(architecture: str, transform_output_dir: Path,
                                                tmp_path: Path) -> None:
    config = taxi_config(architecture=architecture, hidden_units=(8,), embedding_dim=4)
    settings = TrainingSettings.from_config(config)
    transform_output = tft.TFTransformOutput(str(transform_output_dir))
    shapes = feature_shapes(transform_output, settings)
    model = build_model(architecture, shapes, settings)
    for name, cardinality in shapes.categorical_cardinalities.items():
        embedding_layers = [layer for layer in model.layers if layer.name.endswith(f"_{name}")]
        assert embedding_layers and all(layer.input_dim == cardinality
                                        for layer in embedding_layers)

    rows = sample_rows(256)
    transformed = transform_rows(transform_output_dir, config, rows)
    labels = transformed.pop(config.label_name)
    before = [weight.numpy().copy() for weight in model.trainable_weights]
    # The train step is traced once for both epochs, since the optimizer's slots exist
    # before it: a step that creates variables is traced twice (seconds of every Trainer
    # run), and tf.function's own tracing count leaves that trace out.
    traced, train_step = [], model.train_step
    model.train_step = lambda data: traced.append(1) or train_step(data)
    model.fit(dict(transformed), labels, batch_size=64, epochs=2, verbose=0)
    assert len(traced) == 1
    assert any(not np.allclose(old, new.numpy())
               for old, new in zip(before, model.trainable_weights, strict=False))

    export_directory = tmp_path / "serving"
    export_serving_model(model, transform_output, config.label_name, str(export_directory),
                         shapes, extra_assets={"pipeline_config": config.to_dict()})
    loaded = tf.saved_model.load(str(export_directory))
    serialized = serialized_examples(config, rows[:32])
    # Serving sees raw examples without the label; the signature must not need it.
    unlabeled = unlabeled_examples(config, rows[:32])
    probabilities = loaded.signatures["serving_default"](
        examples=tf.constant(unlabeled))["probability"].numpy()
    assert probabilities.shape == (32, 1)
    assert np.all((probabilities > 0) & (probabilities < 1))
    features = transform_rows(transform_output_dir, config, rows[:32])
    features.pop(config.label_name)
    expected = model(dict(features), training=False)
    np.testing.assert_allclose(probabilities, np.asarray(expected), rtol=1e-4, atol=1e-5)
    # The network's weights are constants of the serving graph: no variable is passed in
    # or read per call (models/export.py: frozen_network).
    serving_graph = loaded.signatures["serving_default"].graph.as_graph_def()
    serving_ops = {node.op for node in serving_graph.node} | {
        node.op for function in serving_graph.library.function for node in function.node_def}
    assert "MatMul" in serving_ops or "BatchMatMulV2" in serving_ops
    assert not {"ReadVariableOp", "VarHandleOp", "ResourceGather"} & serving_ops
    # ... and still saved as variables, which a warm start reads.
    assert [variable.numpy().tolist() for variable in loaded.network_variables] == [
        np.asarray(variable.value).tolist() for variable in model.variables]
    assert json.loads((export_directory / EXTRA_ASSETS_DIRECTORY / "serving.json").read_text()
                      )["weights"] == "constants"

    transformed_by_signature = loaded.signatures["transform_features"](
        examples=tf.constant(serialized))
    assert set(transformed_by_signature) >= set(shapes.categorical_cardinalities) | {"fare"}

    stored = json.loads((export_directory / EXTRA_ASSETS_DIRECTORY /
                         "pipeline_config.json").read_text())
    assert stored["architecture"] == architecture


def test_a_network_over_the_freeze_limit_serves_from_its_variables(
        transform_output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network whose weights a SavedModel's graph could not hold as constants is exported
    with its variables, answers the same, and says so in assets.extra/serving.json."""
    import models.export

    config = taxi_config(architecture="deep", hidden_units=(8,), embedding_dim=4)
    settings = TrainingSettings.from_config(config)
    transform_output = tft.TFTransformOutput(str(transform_output_dir))
    shapes = feature_shapes(transform_output, settings)
    model = build_model("deep", shapes, settings)
    monkeypatch.setattr(models.export, "FREEZE_LIMIT_BYTES", 1000)
    export_directory = tmp_path / "serving"
    export_serving_model(model, transform_output, config.label_name, str(export_directory),
                         shapes)
    details = json.loads((export_directory / EXTRA_ASSETS_DIRECTORY / "serving.json").read_text())
    assert details["weights"] == "variables" and details["weight_bytes"] > 1000
    assert "1,000" in details["why"]
    serving = tf.saved_model.load(str(export_directory)).signatures["serving_default"]
    graph = serving.graph.as_graph_def()
    assert "ReadVariableOp" in {node.op for function in graph.library.function
                                for node in function.node_def}
    rows = sample_rows(16)
    unlabeled = unlabeled_examples(config, rows)
    features = transform_rows(transform_output_dir, config, rows)
    features.pop(config.label_name)
    np.testing.assert_allclose(serving(examples=tf.constant(unlabeled))["probability"].numpy(),
                               np.asarray(model(dict(features), training=False)),
                               rtol=1e-4, atol=1e-5)
