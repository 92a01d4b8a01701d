"""The Evaluator's array path (evaluation/array_evaluation.py, pipeline/components/
evaluator.py) against TFX's own Evaluator executor (TFMA's Beam evaluation), on the same
models, examples and EvalConfig of each task: every metric, plot, validation and the
blessing must agree.

The models are small SavedModels with the signatures our exports have (serving_default on
serialized examples, and label_id for a class-name label), so that the comparison runs in
seconds without a pipeline; the end-to-end tests run the Evaluator inside real pipelines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx.components.evaluator import executor as tfx_executor
from tfx.types import standard_artifacts
from tfx.utils import json_utils, proto_utils

from evaluation.array_evaluation import NotArrayEvaluable, check_evaluable
from evaluation.slices import eval_config_from
from pipeline.components.evaluator import Executor
from pipeline.settings import EvaluatorSettings

ROWS = 800
SPECIES = ("Adelie", "Chinstrap", "Gentoo")


def _rows(seed: int) -> list[tf.train.Example]:
    """Rows with a numeric feature `x`, a string slice column `group` (missing in some
    rows, the first ones among them), an int slice column `hour`, a multivalent `tags`
    column, and three labels."""
    rng = np.random.default_rng(seed)
    examples = []
    for row in range(ROWS):
        x = float(rng.normal())
        features = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
                    "hour": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[int(rng.integers(0, 5))])),
                    "tags": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[tag.encode() for tag in ("a", "b", "c")
                               if rng.random() < 0.4])),
                    "big": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[int(rng.random() < 1 / (1 + math.exp(-2 * x)))])),
                    "fare": tf.train.Feature(float_list=tf.train.FloatList(
                        value=[3 * x + 10 + float(rng.normal())])),
                    "species": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[SPECIES[int(np.clip(round(x + rng.normal(0, 0.7)) + 1, 0, 2))]
                               .encode()]))}
        if row >= 5 and rng.random() < 0.9:  # missing from the first rows of each file
            features["group"] = tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[rng.choice([b"cash", b"card", b"other"])]))
        examples.append(tf.train.Example(features=tf.train.Features(feature=features)))
    return examples


# Each task's serving output of a one-feature model with a slope.
OUTPUTS = {
    "binary": lambda slope, x: {"probability": tf.sigmoid(slope * x)},
    "regression": lambda slope, x: {"value": slope * x + 10.0},
    "multiclass": lambda slope, x: {"probabilities": tf.nn.softmax(
        tf.concat([-slope * x, tf.zeros_like(x), slope * x], axis=1))},
}


class _Model(tf.Module):
    """serving_default: examples -> {task's prediction key}; label_id: the class id."""

    def __init__(self, task: str, slope: float):
        super().__init__()
        self.task, self.slope = task, tf.Variable(slope)
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(SPECIES), tf.constant([0, 1, 2], tf.int64)), -1)
        spec = {"x": tf.io.FixedLenFeature([1], tf.float32),
                "species": tf.io.FixedLenFeature([], tf.string, default_value="")}
        self._spec = spec

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return OUTPUTS[self.task](self.slope, tf.io.parse_example(examples, self._spec)["x"])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def label_id(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"species": self.table.lookup(tf.io.parse_example(examples, self._spec)
                                             ["species"])}


def _model(directory: Path, task: str, slope: float) -> standard_artifacts.Model:
    module = _Model(task, slope)
    tf.saved_model.save(module, str(directory / "Format-Serving"), signatures={
        "serving_default": module.serve.get_concrete_function(),
        "label_id": module.label_id.get_concrete_function()})
    artifact = standard_artifacts.Model()
    artifact.uri = str(directory)
    return artifact


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> standard_artifacts.Examples:
    root = tmp_path_factory.mktemp("examples")
    (root / "Split-eval").mkdir()
    for part in range(2):
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(str(root / "Split-eval" / f"data_{part}.gz"), options) as out:
            for example in _rows(part):
                out.write(example.SerializeToString())
    artifact = standard_artifacts.Examples()
    artifact.uri = str(root)
    artifact.split_names = json_utils.dumps(["eval"])
    return artifact


TASKS = {
    "binary": dict(label_name="big", blessing_thresholds={"auc": 0.6},
                   change_thresholds={"auc": 0.01}),
    "multiclass": dict(label_name="species", blessing_thresholds={"macro_f1": 0.3},
                       change_thresholds={"accuracy": 0.01}),
    "regression": dict(label_name="fare", blessing_thresholds={"r2": 0.5},
                       change_thresholds={"rmse": 0.05}),
}


def _evaluate(executor: type, task: str, examples: standard_artifacts.Examples,
              models: dict[str, standard_artifacts.Model], output: Path,
              slices: tuple[str, ...] = ("group", "hour", "tags"),
              extra_metric: str = "") -> tuple[str, bool]:
    settings = EvaluatorSettings(task=task, slice_features=slices, decision_threshold=0.5,
                                 **TASKS[task])
    config = eval_config_from(settings)
    if extra_metric:
        config.metrics_specs[0].metrics.add(class_name=extra_metric)
    evaluation, blessing = standard_artifacts.ModelEvaluation(), \
        standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(output / "evaluation"), str(output / "blessing")
    Path(blessing.uri).mkdir(parents=True)
    inputs = {"examples": [examples], "model": [models["candidate"]]}
    if "baseline" in models:
        inputs["baseline_model"] = [models["baseline"]]
    executor().Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]}, {
        "eval_config": proto_utils.proto_to_json(config),
        "example_splits": json_utils.dumps(["eval"])})
    return evaluation.uri, bool(blessing.get_int_custom_property("blessed"))


def _values(value: object) -> object:
    """A metric or plot value proto as comparable numbers."""
    from google.protobuf import json_format

    return json_format.MessageToDict(value)


def _close(ours: object, theirs: object, where: str) -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), where
        for key in theirs:
            _close(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        # Entries of confusion matrices come in the order the data first showed them.
        order = (lambda items: sorted(items, key=repr)) if theirs and isinstance(
            theirs[0], dict) and "actualClassId" in theirs[0] else (lambda items: items)
        for index, (a, b) in enumerate(zip(order(ours), order(theirs), strict=True)):
            _close(a, b, f"{where}[{index}]")
    elif isinstance(theirs, float | int) and not isinstance(theirs, bool):
        # The models' float32 outputs differ in their last bits between the two paths'
        # batch sizes. A value is held to 1e-6 of itself; a diff against the baseline is
        # the difference of two such values near 1 (CI saw a calibration diff of -0.001
        # off by 1e-9), so it is held to the same absolute error as its operands.
        tolerance = 1e-6 if "is_diff: true" in where else 1e-9
        assert float(ours) == pytest.approx(float(theirs), rel=1e-6, abs=tolerance,
                                            nan_ok=True), where
    else:
        assert ours == theirs, where


def _by_slice(records: list) -> dict:
    result = {}
    for record in records:
        key = tfma.slicer.stringify_slice_key(
            tfma.slicer.deserialize_slice_key(record.slice_key))
        entries = getattr(record, "metric_keys_and_values", None)
        if entries is None:
            entries = record.plot_keys_and_values
        result[key] = {str(entry.key).replace("\n", " "): _values(entry.value)
                       for entry in entries}
    return result


@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_array_path_writes_what_tfma_writes(task: str, tmp_path: Path,
                                                examples: standard_artifacts.Examples) -> None:
    """Candidate against a baseline, slices by a string column with gaps, an int column
    and a multivalent column: the same metrics, plots, diffs, validation and blessing."""
    models = {"candidate": _model(tmp_path / "candidate", task, 2.0),
              "baseline": _model(tmp_path / "baseline", task, 1.2)}
    ours, our_blessing = _evaluate(Executor, task, examples, models, tmp_path / "ours")
    theirs, their_blessing = _evaluate(tfx_executor.Executor, task, examples, models,
                                       tmp_path / "tfma")
    our_metrics = _by_slice(tfma.load_metrics(ours))
    their_metrics = _by_slice(tfma.load_metrics(theirs))
    # 1 overall, 3 groups, 5 hours, 3 tags
    assert len(their_metrics) == 12 and set(our_metrics) == set(their_metrics)
    _close(our_metrics, their_metrics, "metrics")
    _close(_by_slice(tfma.load_plots(ours)), _by_slice(tfma.load_plots(theirs)), "plots")
    ours_validation = _values(tfma.load_validation_result(ours))
    theirs_validation = _values(tfma.load_validation_result(theirs))
    _close(ours_validation, theirs_validation, "validation")
    assert our_blessing == their_blessing
    # The files TFX's Evaluator leaves, so tfma.load_eval_result reads ours as well.
    assert sorted(path.name for path in Path(ours).iterdir()) == \
        sorted(path.name for path in Path(theirs).iterdir())
    assert json.loads((Path(ours) / "eval_config.json").read_text()) == \
        json.loads((Path(theirs) / "eval_config.json").read_text())
    assert tfma.load_eval_result(ours).slicing_metrics


def test_a_first_run_without_baseline_gates_on_the_value_alone(
        tmp_path: Path, examples: standard_artifacts.Examples) -> None:
    """No baseline: change thresholds are dropped (TFX's rubber stamp), and a candidate
    under its blessing threshold is refused by both paths with the same failure."""
    weak = {"candidate": _model(tmp_path / "weak", "binary", -1.0)}
    ours, our_blessing = _evaluate(Executor, "binary", examples, weak, tmp_path / "ours")
    theirs, their_blessing = _evaluate(tfx_executor.Executor, "binary", examples, weak,
                                       tmp_path / "tfma")
    assert our_blessing is their_blessing is False
    _close(_values(tfma.load_validation_result(ours)),
           _values(tfma.load_validation_result(theirs)), "validation")
    _close(_by_slice(tfma.load_metrics(ours)), _by_slice(tfma.load_metrics(theirs)),
           "metrics")


def test_what_the_array_path_does_not_cover_goes_to_tfma() -> None:
    """A metric without an array builder (here TFMA's MeanSquaredLogarithmicError) or
    confidence intervals send the evaluation to TFMA's Beam path, with the reason."""
    config = eval_config_from(EvaluatorSettings(task="regression", slice_features=(),
                                                decision_threshold=0.5,
                                                **TASKS["regression"]))
    check_evaluable(tfma.utils.update_eval_config_with_defaults(config, rubber_stamp=True))
    config.metrics_specs[0].metrics.add(class_name="MeanSquaredLogarithmicError")
    with pytest.raises(NotArrayEvaluable, match="MeanSquaredLogarithmicError"):
        check_evaluable(tfma.utils.update_eval_config_with_defaults(config, rubber_stamp=True))
    del config.metrics_specs[0].metrics[-1]
    config.options.compute_confidence_intervals.value = True
    with pytest.raises(NotArrayEvaluable, match="confidence intervals"):
        check_evaluable(tfma.utils.update_eval_config_with_defaults(config, rubber_stamp=True))


def test_the_evaluator_falls_back_to_tfma_and_says_why(
        tmp_path: Path, examples: standard_artifacts.Examples,
        capsys: pytest.CaptureFixture) -> None:
    """Our executor with a metric it has no builder for runs TFX's own executor: the
    metric is in the output, and the log says why."""
    models = {"candidate": _model(tmp_path / "candidate", "regression", 2.0)}
    ours, blessed = _evaluate(Executor, "regression", examples, models, tmp_path / "ours",
                              slices=(), extra_metric="MeanSquaredLogarithmicError")
    assert "no array builder for" in capsys.readouterr().out
    [overall] = _by_slice(tfma.load_metrics(ours)).values()
    assert any('name: "mean_squared_logarithmic_error"' in key for key in overall)
    assert any('name: "r2"' in key for key in overall) and blessed
