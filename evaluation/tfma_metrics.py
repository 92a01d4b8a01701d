"""TFMA metrics that TFMA 0.47 lacks, for the Evaluator's EvalConfig.

- `RSquared` ("r2"): the coefficient of determination of a regression,
  1 - sum(w (y - p)^2) / sum(w (y - mean_w(y))^2). TFMA's SquaredPearsonCorrelation is
  the squared correlation, which ignores bias and scale errors, so it is not R².
- `RootMeanSquaredError` ("root_mean_squared_error"): TFMA has MeanSquaredError but no
  native RMSE (only Keras's, wrapped, which is slow); this is the root of TFMA's MSE.
- `SparseCategoricalCrossEntropy` ("sparse_categorical_crossentropy"): multi-class log
  loss for an integer class id label. TFMA's native CategoricalCrossEntropy expects a
  one-hot label: given a class id it silently returns -id * sum(log p). Keras's
  SparseCategoricalCrossentropy is right, but runs as a slow wrapped Keras metric.
- `LogLossSkill` ("log_loss_skill"): how much better than the trivial predictor a
  classifier is, 1 - log loss / log loss of the slice's own class rates (the best
  constant answer on that slice, so at least as strict as the train split's prior): 0 for
  a model that knows nothing beyond the rates, 1 for a perfect one, negative for one worse
  than knowing the rates. A binary prediction is P(class 1); a multi-class one a
  probability vector. Undefined (NaN) on a slice holding one class. It is the
  classification counterpart of R², the tasks' default gate (tasks/base.py).
- `MacroPrecision`, `MacroRecall`, `MacroF1` and `MultiClassAccuracy`: multi-class metrics
  read off TFMA's multi-class confusion matrix at the argmax prediction. They need no
  number of classes in the config: the classes are those seen in the slice, as labels or
  as predictions, as scikit-learn's average="macro" does; a class's undefined precision
  or recall (never predicted, never seen) counts as 0, also as scikit-learn does.

Each is a TFMA metric class, used as
`tfma.MetricConfig(class_name="RSquared", module="evaluation.tfma_metrics")`; every value
is a plain float under a key without sub_key, so per-slice value and change thresholds
gate on it like on TFMA's own metrics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import mean_regression_error, metric_types, metric_util
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mc
from tensorflow_model_analysis.proto import config_pb2

R_SQUARED_NAME = "r2"
ROOT_MEAN_SQUARED_ERROR_NAME = "root_mean_squared_error"
SPARSE_CATEGORICAL_CROSSENTROPY_NAME = "sparse_categorical_crossentropy"
LOG_LOSS_SKILL_NAME = "log_loss_skill"
MACRO_PRECISION_NAME = "macro_precision"
MACRO_RECALL_NAME = "macro_recall"
MACRO_F1_NAME = "macro_f1"
MULTI_CLASS_ACCURACY_NAME = "accuracy"

# Our own name for the shared confusion matrix: TFMA keeps one computation per combiner
# and key, so sharing TFMA's "_multi_class_confusion_matrices" would let a
# MultiClassConfusionMatrixAtThresholds at its default 0.5 replace our argmax matrix.
_ARGMAX_MATRICES_NAME = "_argmax_multi_class_confusion_matrices"


class RSquared(metric_types.Metric):
    """Coefficient of determination (R²) of a single regression output, weighted by the
    example weight when the EvalConfig has one. NaN when the labels are constant."""

    def __init__(self, name: str = R_SQUARED_NAME):
        super().__init__(metric_util.merge_per_key_computations(_r_squared), name=name)


metric_types.register_metric(RSquared)


def _r_squared(
    name: str = R_SQUARED_NAME,
    eval_config: config_pb2.EvalConfig | None = None,
    model_name: str = "",
    output_name: str = "",
    sub_key: metric_types.SubKey | None = None,
    aggregation_type: metric_types.AggregationType | None = None,
    class_weights: dict[int, float] | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    """One computation per model and output, as TFMA's squared_pearson_correlation."""
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 sub_key=sub_key, example_weighted=example_weighted)
    combiner = _RSquaredCombiner(key, eval_config, aggregation_type, class_weights,
                                 example_weighted)
    return [metric_types.MetricComputation(keys=[key], preprocessors=None, combiner=combiner)]


@dataclasses.dataclass
class _RSquaredAccumulator:
    """Weighted label mean and squared deviations, kept as a mean and a sum of squares
    about it (Chan et al.) so that labels far from zero lose no precision."""

    weight: float = 0.0
    label_mean: float = 0.0
    label_squares: float = 0.0  # sum of w (y - label_mean)^2
    squared_errors: float = 0.0  # sum of w (y - p)^2

    def merge(self, other: _RSquaredAccumulator) -> None:
        weight = self.weight + other.weight
        if weight == 0.0:
            return
        delta = other.label_mean - self.label_mean
        self.label_squares += other.label_squares + delta**2 * self.weight * other.weight / weight
        self.label_mean += delta * other.weight / weight
        self.squared_errors += other.squared_errors
        self.weight = weight


class _RSquaredCombiner(beam.CombineFn):
    """Computes R² over a slice from labels, predictions and example weights."""

    def __init__(self, key: metric_types.MetricKey, eval_config: config_pb2.EvalConfig | None,
                 aggregation_type: metric_types.AggregationType | None,
                 class_weights: dict[int, float] | None, example_weighted: bool):
        self._key = key
        self._eval_config = eval_config
        self._aggregation_type = aggregation_type
        self._class_weights = class_weights
        self._example_weighted = example_weighted

    def create_accumulator(self) -> _RSquaredAccumulator:
        return _RSquaredAccumulator()

    def add_input(self, accumulator: _RSquaredAccumulator,
                  element: metric_types.StandardMetricInputs) -> _RSquaredAccumulator:
        values = [tuple(float(metric_util.safe_to_scalar(value)) for value in triple)
                  for triple in metric_util.to_label_prediction_example_weight(
                      element, eval_config=self._eval_config, model_name=self._key.model_name,
                      output_name=self._key.output_name, sub_key=self._key.sub_key,
                      aggregation_type=self._aggregation_type,
                      class_weights=self._class_weights,
                      example_weighted=self._example_weighted)]
        if not values:
            return accumulator
        labels, predictions, weights = (np.array(column) for column in zip(*values, strict=True))
        return self.add_arrays(accumulator, labels, predictions, weights)

    def add_arrays(self, accumulator: _RSquaredAccumulator, labels: np.ndarray,
                   predictions: np.ndarray, example_weights: np.ndarray
                   ) -> _RSquaredAccumulator:
        """Adds whole arrays of rows (the Evaluator's array path, evaluation/array_metrics.py)."""
        labels = np.asarray(labels, dtype=np.float64).reshape(-1)
        errors = labels - np.asarray(predictions, dtype=np.float64).reshape(-1)
        weights = np.broadcast_to(np.asarray(example_weights, dtype=np.float64).reshape(-1),
                                  labels.shape)
        weight = float(weights.sum())
        if weight == 0.0:
            return accumulator
        mean = float((weights * labels).sum() / weight)
        accumulator.merge(_RSquaredAccumulator(
            weight, mean, float((weights * (labels - mean) ** 2).sum()),
            float((weights * errors**2).sum())))
        return accumulator

    def merge_accumulators(
            self, accumulators: Iterable[_RSquaredAccumulator]) -> _RSquaredAccumulator:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.merge(accumulator)
        return result

    def extract_output(
            self, accumulator: _RSquaredAccumulator) -> dict[metric_types.MetricKey, float]:
        if accumulator.weight <= 0.0 or accumulator.label_squares <= 0.0:
            return {self._key: float("nan")}
        return {self._key: 1.0 - accumulator.squared_errors / accumulator.label_squares}


class RootMeanSquaredError(metric_types.Metric):
    """Square root of TFMA's (example-weighted) mean squared error."""

    def __init__(self, name: str = ROOT_MEAN_SQUARED_ERROR_NAME):
        super().__init__(metric_util.merge_per_key_computations(_root_mean_squared_error),
                         name=name)


metric_types.register_metric(RootMeanSquaredError)


def _root_mean_squared_error(
    name: str = ROOT_MEAN_SQUARED_ERROR_NAME,
    eval_config: config_pb2.EvalConfig | None = None,
    model_name: str = "",
    output_name: str = "",
    sub_key: metric_types.SubKey | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 sub_key=sub_key, example_weighted=example_weighted)
    # A leading "_" keeps this MSE out of the written results; a configured
    # MeanSquaredError is computed separately under its own key.
    computations = mean_regression_error.MeanSquaredError(name="_" + name).computations(
        eval_config=eval_config, model_names=[model_name], output_names=[output_name],
        sub_keys=[sub_key], example_weighted=example_weighted)
    mse_key = computations[-1].keys[-1]

    def result(metrics: dict[metric_types.MetricKey, float]
               ) -> dict[metric_types.MetricKey, float]:
        return {key: float(np.sqrt(metrics[mse_key]))}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


class SparseCategoricalCrossEntropy(metric_types.Metric):
    """Mean of -log p[label] over the slice, weighted by the example weight when the
    EvalConfig has one. The label is a class id (or a one-hot vector); the prediction a
    probability vector, renormalized and clipped as Keras does, so the values agree."""

    def __init__(self, name: str = SPARSE_CATEGORICAL_CROSSENTROPY_NAME):
        super().__init__(metric_util.merge_per_key_computations(
            _one_combiner(_SparseCrossEntropyCombiner, SPARSE_CATEGORICAL_CROSSENTROPY_NAME)),
                         name=name)


metric_types.register_metric(SparseCategoricalCrossEntropy)

_KERAS_EPSILON = 1e-7


def _one_combiner(combiner: type[beam.CombineFn], default_name: str
                  ) -> Callable[..., metric_types.MetricComputations]:
    """TFMA's computations function for a metric that is one `combiner` per model and
    output, built with (key, eval_config, example_weighted)."""
    def computations(name: str = default_name,
                     eval_config: config_pb2.EvalConfig | None = None,
                     model_name: str = "", output_name: str = "",
                     example_weighted: bool = False) -> metric_types.MetricComputations:
        key = metric_types.MetricKey(name=name, model_name=model_name,
                                     output_name=output_name,
                                     example_weighted=example_weighted)
        return [metric_types.MetricComputation(
            keys=[key], preprocessors=None,
            combiner=combiner(key, eval_config, example_weighted))]
    return computations


def _class_ids_and_probabilities(labels: np.ndarray, predictions: np.ndarray
                                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's class id and its probability vector, clipped as Keras does. A single
    prediction per row is P(class 1) of a binary label (class 1 when the label is over
    0.5); a vector is renormalized, and its label is a class id or a one-hot vector."""
    rows = len(labels)
    labels = np.asarray(labels).reshape(rows, -1)
    probabilities = np.asarray(predictions, dtype=np.float64).reshape(rows, -1)
    if probabilities.shape[1] == 1:
        class_ids = (labels[:, 0].astype(np.float64) > 0.5).astype(np.int64)
        probabilities = np.concatenate([1.0 - probabilities, probabilities], axis=1)
    else:
        class_ids = (np.argmax(labels, axis=1) if labels.shape[1] > 1
                     else labels[:, 0].astype(np.int64))
        probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    return class_ids, np.clip(probabilities, _KERAS_EPSILON, 1.0 - _KERAS_EPSILON)


class _SparseCrossEntropyCombiner(beam.CombineFn):
    """Accumulates (sum of w * -log p[label], sum of w)."""

    def __init__(self, key: metric_types.MetricKey, eval_config: config_pb2.EvalConfig | None,
                 example_weighted: bool):
        self._key = key
        self._eval_config = eval_config
        self._example_weighted = example_weighted

    def create_accumulator(self) -> tuple[float, float]:
        return 0.0, 0.0

    def add_input(self, accumulator: tuple[float, float],
                  element: metric_types.StandardMetricInputs) -> tuple[float, float]:
        # flatten=False keeps the whole probability vector of each example together.
        for label, prediction, example_weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, example_weighted=self._example_weighted,
                flatten=False, require_single_example_weight=True):
            accumulator = self.add_arrays(
                accumulator, np.asarray(label).reshape(1, -1),
                np.asarray(prediction).reshape(1, -1),
                np.array([float(metric_util.safe_to_scalar(example_weight))]))
        return accumulator

    def add_arrays(self, accumulator: tuple[float, float], labels: np.ndarray,
                   predictions: np.ndarray, example_weights: np.ndarray
                   ) -> tuple[float, float]:
        """Adds whole arrays of rows: `labels` class ids (rows,) or one-hot (rows,
        classes), `predictions` (rows, classes)."""
        total, weights = accumulator
        class_ids, probabilities = _class_ids_and_probabilities(labels, predictions)
        example_weights = np.asarray(example_weights, dtype=np.float64).reshape(-1)
        picked = probabilities[np.arange(len(class_ids)), class_ids]
        return (total - float((example_weights * np.log(picked)).sum()),
                weights + float(example_weights.sum()))

    def merge_accumulators(
            self, accumulators: Iterable[tuple[float, float]]) -> tuple[float, float]:
        accumulators = list(accumulators)
        return sum(a[0] for a in accumulators), sum(a[1] for a in accumulators)

    def extract_output(
            self, accumulator: tuple[float, float]) -> dict[metric_types.MetricKey, float]:
        total, weights = accumulator
        return {self._key: total / weights if weights > 0.0 else float("nan")}


class LogLossSkill(metric_types.Metric):
    """1 - log loss / log loss of the slice's class rates (see the module's docstring)."""

    def __init__(self, name: str = LOG_LOSS_SKILL_NAME):
        super().__init__(metric_util.merge_per_key_computations(
            _one_combiner(_LogLossSkillCombiner, LOG_LOSS_SKILL_NAME)), name=name)


metric_types.register_metric(LogLossSkill)


class _LogLossSkillCombiner(_SparseCrossEntropyCombiner):
    """Accumulates (sum of w * -log p[label], {class id: sum of w})."""

    def create_accumulator(self) -> tuple[float, dict[int, float]]:
        return 0.0, {}

    def add_input(self, accumulator: tuple[float, dict[int, float]],
                  element: metric_types.StandardMetricInputs
                  ) -> tuple[float, dict[int, float]]:
        for label, prediction, example_weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, example_weighted=self._example_weighted,
                flatten=False, require_single_example_weight=True):
            accumulator = self.add_arrays(
                accumulator, np.asarray(label).reshape(1, -1),
                np.asarray(prediction).reshape(1, -1),
                np.array([float(metric_util.safe_to_scalar(example_weight))]))
        return accumulator

    def add_arrays(self, accumulator: tuple[float, dict[int, float]], labels: np.ndarray,
                   predictions: np.ndarray, example_weights: np.ndarray
                   ) -> tuple[float, dict[int, float]]:
        """Adds whole arrays of rows: a binary prediction is P(class 1) per row, a
        multi-class one (rows, classes)."""
        total, classes = accumulator[0], dict(accumulator[1])
        class_ids, probabilities = _class_ids_and_probabilities(labels, predictions)
        example_weights = np.asarray(example_weights, dtype=np.float64).reshape(-1)
        picked = probabilities[np.arange(len(class_ids)), class_ids]
        total -= float((example_weights * np.log(picked)).sum())
        present, inverse = np.unique(class_ids, return_inverse=True)
        for class_id, weight in zip(present.tolist(),
                                    np.bincount(inverse, example_weights).tolist(), strict=True):
            classes[class_id] = classes.get(class_id, 0.0) + weight
        return total, classes

    def merge_accumulators(self, accumulators: Iterable[tuple[float, dict[int, float]]]
                           ) -> tuple[float, dict[int, float]]:
        total, classes = 0.0, {}
        for part_total, part_classes in accumulators:
            total += part_total
            for class_id, weight in part_classes.items():
                classes[class_id] = classes.get(class_id, 0.0) + weight
        return total, classes

    def extract_output(self, accumulator: tuple[float, dict[int, float]]
                       ) -> dict[metric_types.MetricKey, float]:
        total, classes = accumulator
        weights = sum(classes.values())
        rates = np.array([weight / weights for weight in classes.values() if weight > 0]
                         if weights > 0 else [])
        prior_loss = float(-(rates * np.log(rates)).sum()) if rates.size else 0.0
        if prior_loss <= 0.0:
            return {self._key: float("nan")}
        return {self._key: 1.0 - (total / weights) / prior_loss}


# Per-class counts from the argmax confusion matrix: (true positives, predicted, actual).
_ClassCounts = dict[int, tuple[float, float, float]]


def _class_counts(matrices: mc.Matrices) -> _ClassCounts:
    """Counts per class id, over the classes that occur as label or as prediction."""
    entries = matrices[0.0] if 0.0 in matrices else {}
    classes = {k.actual_class_id for k in entries} | {k.predicted_class_id for k in entries}
    classes.discard(mc.NO_PREDICTED_CLASS_ID)
    counts = {}
    for class_id in sorted(classes):
        true_positives = entries.get(mc.MatrixEntryKey(class_id, class_id), 0.0)
        predicted = sum(v for k, v in entries.items() if k.predicted_class_id == class_id)
        actual = sum(v for k, v in entries.items() if k.actual_class_id == class_id)
        counts[class_id] = (true_positives, predicted, actual)
    return counts


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0.0 else 0.0


def _macro_precision(counts: _ClassCounts) -> float:
    return float(np.mean([_ratio(tp, predicted) for tp, predicted, _ in counts.values()]))


def _macro_recall(counts: _ClassCounts) -> float:
    return float(np.mean([_ratio(tp, actual) for tp, _, actual in counts.values()]))


def _macro_f1(counts: _ClassCounts) -> float:
    # Per-class F1 averaged (scikit-learn's macro F1), not the F1 of macro P and macro R.
    return float(np.mean([_ratio(2.0 * tp, predicted + actual)
                          for tp, predicted, actual in counts.values()]))


def _accuracy(counts: _ClassCounts) -> float:
    return _ratio(sum(tp for tp, _, _ in counts.values()),
                  sum(actual for _, _, actual in counts.values()))


def _argmax_matrix_computations(
    statistic: Callable[[_ClassCounts], float],
    name: str,
    eval_config: config_pb2.EvalConfig | None = None,
    model_name: str = "",
    output_name: str = "",
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    """TFMA's multi-class confusion matrix at threshold 0 (every example counted at its
    argmax class), then `statistic` of its per-class counts."""
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    computations = mc.multi_class_confusion_matrices(
        thresholds=[0.0], name=_ARGMAX_MATRICES_NAME, eval_config=eval_config,
        model_name=model_name, output_name=output_name, example_weighted=example_weighted)
    matrices_key = computations[-1].keys[-1]

    def result(metrics: dict[metric_types.MetricKey, mc.Matrices]
               ) -> dict[metric_types.MetricKey, float]:
        counts = _class_counts(metrics[matrices_key])
        return {key: statistic(counts) if counts else float("nan")}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


def _argmax_metric(statistic: Callable[[_ClassCounts], float]) -> Callable[..., object]:
    """The create-computations function TFMA calls per model and output."""

    def create(name: str, eval_config: config_pb2.EvalConfig | None = None,
               model_name: str = "", output_name: str = "",
               example_weighted: bool = False) -> metric_types.MetricComputations:
        return _argmax_matrix_computations(statistic, name, eval_config, model_name,
                                           output_name, example_weighted)

    return create


class MacroPrecision(metric_types.Metric):
    """Unweighted mean over classes of precision at the argmax prediction."""

    def __init__(self, name: str = MACRO_PRECISION_NAME):
        super().__init__(metric_util.merge_per_key_computations(
            _argmax_metric(_macro_precision)), name=name)


class MacroRecall(metric_types.Metric):
    """Unweighted mean over classes of recall at the argmax prediction."""

    def __init__(self, name: str = MACRO_RECALL_NAME):
        super().__init__(metric_util.merge_per_key_computations(
            _argmax_metric(_macro_recall)), name=name)


class MacroF1(metric_types.Metric):
    """Unweighted mean over classes of F1 at the argmax prediction."""

    def __init__(self, name: str = MACRO_F1_NAME):
        super().__init__(metric_util.merge_per_key_computations(
            _argmax_metric(_macro_f1)), name=name)


class MultiClassAccuracy(metric_types.Metric):
    """Share of examples whose argmax class is their label, under a key without sub_key
    (TFMA's Precision with top_k=1 gives the same value under sub_key top_k:1)."""

    def __init__(self, name: str = MULTI_CLASS_ACCURACY_NAME):
        super().__init__(metric_util.merge_per_key_computations(
            _argmax_metric(_accuracy)), name=name)


for _metric in (MacroPrecision, MacroRecall, MacroF1, MultiClassAccuracy):
    metric_types.register_metric(_metric)
