"""TFMA's metric combiners fed whole arrays: each combiner's accumulator built from a
slice's labels, predictions and example weights at once, then the combiner's own
`extract_output`, so every value comes from TFMA's (or our) definitions.

Why: TFMA adds every example into every combiner of every slice it falls in, one Python
call each (`add_input`), which held the Evaluator at about 1,000 eval rows/s on 2 cores
(docs/benchmarks.md, "Where the Evaluator's time goes"). The accumulators themselves are
sums, histograms and confusion counts: numpy builds each from a slice's arrays in one
pass. Each builder below mirrors its combiner's `add_input` for the inputs TFMA's
`to_label_prediction_example_weight` would give it; `accumulator_of` answers None for a
combiner, or a setting of one, that has no builder, and the evaluator then leaves the
whole evaluation to TFMA.

A combiner of ours (evaluation/tfma_metrics.py) builds its accumulator itself, through an
`add_arrays(accumulator, labels, predictions, example_weights)` method; its `add_input`
calls the same method with one example, so both paths share one definition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from tensorflow_model_analysis.contrib.aggregates import binary_confusion_matrices as bcm
from tensorflow_model_analysis.metrics import (
    binary_confusion_matrices,
    calibration,
    calibration_histogram,
    example_count,
    mean_regression_error,
    metric_util,
)
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mc


@dataclasses.dataclass(frozen=True)
class ModelArrays:
    """One model's inputs to the metrics over one slice, as TFMA's metric inputs hold
    them: `labels` (rows,) (a class id for a class-id label), `predictions` (rows,) or
    (rows, classes), `example_weights` (rows,)."""

    labels: np.ndarray
    predictions: np.ndarray
    example_weights: np.ndarray

    def take(self, rows: np.ndarray) -> ModelArrays:
        return ModelArrays(self.labels[rows], self.predictions[rows], self.example_weights[rows])

    @property
    def flat_predictions(self) -> np.ndarray:
        """One prediction per row, for a single-output model (TFMA flattens (rows, 1))."""
        return self.predictions.reshape(len(self.labels), -1)[:, 0]


Builder = Callable[[Any, ModelArrays], Any]
_BUILDERS: dict[type, Builder] = {}


def _builds(combiner_type: type) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        _BUILDERS[combiner_type] = builder
        return builder
    return register


def has_builder(combiner: Any) -> bool:
    """True when `combiner`'s accumulator can be built from arrays (see `accumulator_of`)."""
    if hasattr(combiner, "add_arrays"):
        return True
    builder = _BUILDERS.get(type(combiner))
    return builder is not None and _plain_inputs(combiner)


def accumulator_of(combiner: Any, arrays: ModelArrays) -> Any:
    """`combiner`'s accumulator over `arrays`, as its add_input would have built it."""
    if hasattr(combiner, "add_arrays"):
        return combiner.add_arrays(combiner.create_accumulator(), arrays.labels,
                                   arrays.predictions, arrays.example_weights)
    return _BUILDERS[type(combiner)](combiner, arrays)


def _plain_inputs(combiner: Any) -> bool:
    """The builders assume TFMA's own label/prediction extraction, no sub key (class or
    top-k), no aggregation over classes and no class weights."""
    key = getattr(combiner, "_key", None) or getattr(combiner, "_metric_key", None)
    if key is not None and key.sub_key is not None:
        return False
    if getattr(combiner, "_aggregation_type", None) or getattr(combiner, "_class_weights", None):
        return False
    extract = getattr(combiner, "_extract_label_prediction_and_weight", None)
    if extract is not None and extract is not metric_util.to_label_prediction_example_weight:
        return False
    return not getattr(combiner, "_example_id_key", None)


def _fractional_parts(labels: np.ndarray, weights: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The weights of the (label 1) and (label 0) copies of each example that TFMA's
    fractional labels make: w * l and w * (1 - l)."""
    labels = labels.astype(np.float64)
    if labels.size and (labels.min() < 0.0 or labels.max() > 1.0):
        raise ValueError("fractional labels must be in [0, 1]; got labels from "
                         f"{labels.min()} to {labels.max()}")
    return weights * labels, weights * (1.0 - labels)


@_builds(example_count._ExampleCountCombiner)  # noqa: SLF001 - TFMA's own combiner
def _example_count(combiner: Any, arrays: ModelArrays) -> float:
    if combiner._example_weighted:  # noqa: SLF001
        return float(np.sum(arrays.example_weights, dtype=np.float64))
    return float(len(arrays.labels))


@_builds(calibration_histogram._CalibrationHistogramCombiner)  # noqa: SLF001
def _calibration_histogram(combiner: Any, arrays: ModelArrays) -> dict[int, Any]:
    predictions = arrays.flat_predictions.astype(np.float64)
    labels = arrays.labels.reshape(len(predictions), -1)[:, 0].astype(np.float64)
    weights = arrays.example_weights.astype(np.float64)
    if combiner._fractional_labels:  # noqa: SLF001
        positive, negative = _fractional_parts(labels, weights)
        # Each copy lands in its prediction's bucket; a zero-weight copy is dropped.
        parts = [(np.ones_like(labels), predictions, positive),
                 (np.zeros_like(labels), predictions, negative)]
    else:
        parts = [(labels, predictions, weights)]
    bucket_values = predictions if combiner._prediction_based_bucketing else labels  # noqa: SLF001
    count = combiner._num_buckets  # noqa: SLF001
    index = (bucket_values - combiner._left) / combiner._range * count + 1  # noqa: SLF001
    index = np.where(index < 0, 0, np.where(index >= count + 1, count + 1, np.trunc(index)))
    index = np.nan_to_num(index, nan=0).astype(np.int64)
    size = count + 2
    weighted_labels = np.zeros(size)
    weighted_predictions = np.zeros(size)
    weighted_examples = np.zeros(size)
    present = np.zeros(size, dtype=bool)
    for part_labels, part_predictions, part_weights in parts:
        kept = part_weights != 0.0 if combiner._fractional_labels else slice(None)  # noqa: SLF001
        rows = index[kept]
        weighted_labels += np.bincount(rows, part_labels[kept] * part_weights[kept], size)
        weighted_predictions += np.bincount(rows, part_predictions[kept] * part_weights[kept],
                                            size)
        weighted_examples += np.bincount(rows, part_weights[kept], size)
        present |= np.bincount(rows, minlength=size) > 0
    return {int(bucket): calibration_histogram.Bucket(
        int(bucket), float(weighted_labels[bucket]), float(weighted_predictions[bucket]),
        float(weighted_examples[bucket])) for bucket in np.flatnonzero(present)}


@_builds(binary_confusion_matrices._BinaryConfusionMatrixCombiner)  # noqa: SLF001
def _binary_confusion_matrices(combiner: Any, arrays: ModelArrays) -> dict[float, Any]:
    matrices = combiner._binary_confusion_matrices  # noqa: SLF001
    predictions = arrays.flat_predictions.astype(np.float64)
    labels = arrays.labels.reshape(len(predictions), -1)[:, 0].astype(np.float64)
    weights = arrays.example_weights.astype(np.float64)
    fractional = matrices._enable_fractional_labels  # noqa: SLF001
    if fractional:
        positive_weights, negative_weights = _fractional_parts(labels, weights)
    accumulator = matrices.create_accumulator()
    for threshold in matrices._thresholds:  # noqa: SLF001
        above = predictions > threshold
        if not fractional:
            actual = labels > threshold
            positive_weights, negative_weights = weights * actual, weights * ~actual
        accumulator[threshold] = bcm._ThresholdEntry(  # noqa: SLF001
            bcm.Matrix(tp=float(positive_weights[above].sum()),
                       tn=float(negative_weights[~above].sum()),
                       fp=float(negative_weights[above].sum()),
                       fn=float(positive_weights[~above].sum())),
            tp_examples=[], tn_examples=[], fp_examples=[], fn_examples=[])
    return accumulator


@_builds(calibration._WeightedLabelsPredictionsExamplesCombiner)  # noqa: SLF001
def _weighted_labels_predictions(combiner: Any, arrays: ModelArrays) -> Any:
    accumulator = combiner.create_accumulator()
    weights = arrays.example_weights.astype(np.float64)
    accumulator.total_weighted_examples = float(weights.sum())
    accumulator.total_weighted_labels = float(
        (arrays.labels.reshape(len(weights), -1)[:, 0].astype(np.float64) * weights).sum())
    accumulator.total_weighted_predictions = float(
        (arrays.flat_predictions.astype(np.float64) * weights).sum())
    return accumulator


@_builds(mc._MultiClassConfusionMatrixCombiner)  # noqa: SLF001
def _multi_class_confusion_matrices(combiner: Any, arrays: ModelArrays) -> Any:
    rows = len(arrays.labels)
    labels = arrays.labels.reshape(rows, -1)
    actual = (np.argmax(labels, axis=1) if labels.shape[1] > 1
              else labels[:, 0].astype(np.int64))
    probabilities = arrays.predictions.reshape(rows, -1)
    predicted = np.argmax(probabilities, axis=1)
    top = probabilities[np.arange(rows), predicted]
    weights = arrays.example_weights.astype(np.float64)
    accumulator = mc.Matrices()
    unpredicted = np.zeros(rows, dtype=bool)
    for threshold in combiner._thresholds:  # noqa: SLF001
        # As in TFMA: once below a threshold, an example stays unpredicted at the later ones.
        unpredicted |= top <= threshold
        classes = np.where(unpredicted, mc.NO_PREDICTED_CLASS_ID, predicted)
        pairs, inverse = np.unique(np.stack([actual, classes], axis=1), axis=0,
                                   return_inverse=True)
        totals = np.bincount(inverse.reshape(-1), weights, len(pairs))
        accumulator[threshold] = {
            mc.MatrixEntryKey(int(a), int(p)): float(total)
            for (a, p), total in zip(pairs.tolist(), totals.tolist(), strict=True)}
    return accumulator


def _mean_error(error: Callable[[np.ndarray], np.ndarray]) -> Builder:
    def build(combiner: Any, arrays: ModelArrays) -> Any:
        rows = len(arrays.labels)
        differences = (arrays.labels.reshape(rows, -1).astype(np.float64)
                       - arrays.predictions.reshape(rows, -1).astype(np.float64))
        errors = error(differences).reshape(-1)
        weights = np.repeat(arrays.example_weights.astype(np.float64),
                            differences.shape[1])
        kept = ~np.isnan(errors)
        accumulator = combiner.create_accumulator()
        accumulator.total_regression_error = float((errors[kept] * weights[kept]).sum())
        accumulator.total_example_weights = float(weights[kept].sum())
        return accumulator
    return build


_builds(mean_regression_error._MeanAbsoluteErrorCombiner)(_mean_error(np.abs))  # noqa: SLF001
_builds(mean_regression_error._MeanSquaredErrorCombiner)(_mean_error(np.square))  # noqa: SLF001
