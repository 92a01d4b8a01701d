"""The Evaluator's metrics per slice computed on whole arrays, written exactly as TFMA
writes them.

TFMA's Beam evaluation slices every example and adds it into every metric combiner of
every slice in Python, one call at a time: about 1,000 eval rows/s on 2 cores, the
slowest step of a large run (docs/benchmarks.md, "Where the Evaluator's time goes").
Here TensorFlow reads the examples and runs each model's signature on whole batches (as
TFMA's predict extractor does), the slices are row indices, and each combiner's
accumulator is built from a slice's arrays at once (evaluation/array_metrics.py). From the
accumulators on, everything is TFMA's own: its computations from the EvalConfig, its
`extract_output`s, derived metrics, diffs against the baseline, the validator, and the
writers of the metrics, plots, validations and eval_config files, so `tfma.load_*`, the
Pusher's blessing and the reports read the output unchanged.

`evaluate` raises `NotArrayEvaluable` for an EvalConfig this path does not cover (a metric
combiner without an array builder, confidence intervals, cross slices, slices by value,
example weights); the Evaluator then runs TFMA's own Beam evaluation instead.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants as tfma_constants
from tensorflow_model_analysis.evaluators import metrics_validator

# TFMA's own de-duplication of computations, diffability test, private-metric and key
# type filters:
# private to TFMA 0.47 (pinned in requirements.lock), used so that what this path keeps
# and drops is exactly what TFMA's evaluator keeps and drops.
from tensorflow_model_analysis.evaluators.metrics_plots_and_validations_evaluator import (
    _filter_and_separate_computations,
    _filter_by_key_type,
    _is_metric_diffable,
    _is_private_metrics,
    _remove_private_metrics,
)
from tensorflow_model_analysis.metrics import metric_specs, metric_types
from tensorflow_model_analysis.writers import (
    eval_config_writer,
    metrics_plots_and_validations_writer,
)

from evaluation.array_metrics import ModelArrays, accumulator_of, has_builder

# Examples per call of a model's signature (the scoring step's batch, pipeline/components/
# batch_scorer.py): large enough that the model, not Python, sets the pace.
EVALUATION_BATCH = 4096

SliceKey = tuple[tuple[str, Any], ...]


class NotArrayEvaluable(Exception):
    """The EvalConfig asks for something only TFMA's Beam evaluation computes."""


@dataclasses.dataclass(frozen=True)
class EvaluatedModel:
    """A model as the EvalConfig names it (its ModelSpec) and its SavedModel's path."""

    spec: Any  # tfma.ModelSpec
    path: str


def check_evaluable(eval_config: tfma.EvalConfig) -> metric_types.MetricComputations:
    """The computations of `eval_config` (updated with TFMA's defaults), separated as
    TFMA's evaluator separates them; NotArrayEvaluable when this path can't run them."""
    for spec in eval_config.model_specs:
        if spec.example_weight_key or spec.example_weight_keys:
            raise NotArrayEvaluable(f"model {spec.name!r} has example weights")
        if spec.label_keys or spec.prediction_keys:
            raise NotArrayEvaluable(f"model {spec.name!r} has several outputs")
        if len(spec.preprocessing_function_names) > 1:
            raise NotArrayEvaluable(f"model {spec.name!r} has several preprocessing functions")
    if eval_config.cross_slicing_specs:
        raise NotArrayEvaluable("the EvalConfig has cross slices")
    if eval_config.options.min_slice_size.value > 1:
        raise NotArrayEvaluable("the EvalConfig sets a minimum slice size")
    for spec in eval_config.slicing_specs:
        if spec.feature_values or spec.slice_keys_sql:
            raise NotArrayEvaluable("a slice is chosen by value or by SQL")
    for spec in eval_config.metrics_specs:
        if spec.HasField("aggregate") or spec.binarize.ByteSize() or spec.output_names:
            raise NotArrayEvaluable("a metrics spec binarizes, aggregates or names outputs")
    if eval_config.options.compute_confidence_intervals.value:
        raise NotArrayEvaluable("the EvalConfig asks for confidence intervals")
    computations = _filter_and_separate_computations(
        metric_specs.to_computations(eval_config.metrics_specs, eval_config=eval_config))
    if computations.cross_slice_computations or computations.ci_derived_computations:
        raise NotArrayEvaluable("the metrics have cross-slice or interval computations")
    for computation in computations.non_derived_computations:
        if not has_builder(computation.combiner) or any(
                type(step) is not metric_types.StandardMetricInputsPreprocessor
                for step in computation.preprocessors or []):
            raise NotArrayEvaluable(
                f"no array builder for {type(computation.combiner).__name__} "
                f"({', '.join(key.name for key in computation.keys)})")
    return computations


def evaluate(eval_config: tfma.EvalConfig, models: Sequence[EvaluatedModel],
             example_files: Sequence[str], output_uri: str,
             pipeline: beam.Pipeline | None = None) -> dict[SliceKey, dict]:
    """Evaluates `models` on the tf.Examples in `example_files` as TFMA's
    ExtractEvaluateAndWriteResults would with `eval_config` (already updated with TFMA's
    defaults), and writes TFMA's output files under `output_uri` with `pipeline` (a Beam
    pipeline, used only to run TFMA's writers). Returns the metrics per slice."""
    computations = check_evaluable(eval_config)
    columns = _slice_columns(eval_config)
    arrays, slice_values, rows = _read_and_predict(eval_config, models, example_files, columns)
    baseline = next((model.spec.name for model in models if model.spec.is_baseline), None)
    sliced_metrics, sliced_plots = [], []
    for slice_key, indices in _slices(eval_config, slice_values, rows):
        results = _slice_results({name: value.take(indices) for name, value in arrays.items()},
                                 computations, baseline)
        sliced_metrics.append(_filter_by_key_type((slice_key, results),
                                                  metric_types.MetricKey))
        sliced_plots.append(_filter_by_key_type((slice_key, results), metric_types.PlotKey))
    _write(eval_config, models, output_uri, sliced_metrics, sliced_plots, pipeline)
    return dict(sliced_metrics)


def _slice_columns(eval_config: tfma.EvalConfig) -> list[str]:
    return sorted({column for spec in eval_config.slicing_specs for column in spec.feature_keys})


def _compression(files: Sequence[str]) -> str:
    kinds = {file.endswith(".gz") for file in files}
    if len(kinds) > 1:
        raise NotArrayEvaluable("the eval split mixes compressed and plain files")
    return "GZIP" if kinds == {True} else ""


def _raw_types(first: bytes, names: Iterable[str]) -> dict[str, tf.DType]:
    """The TensorFlow type of each of `names` that the first example holds."""
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    schema = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch([first]).schema
    types = {}
    for name in names:
        index = schema.get_field_index(name)
        if index < 0:
            continue
        kind = schema.field(index).type.value_type
        types[name] = (tf.int64 if pa.types.is_integer(kind) else
                       tf.float32 if pa.types.is_floating(kind) else tf.string)
    return types


def _read_and_predict(eval_config: tfma.EvalConfig, models: Sequence[EvaluatedModel],
                      files: Sequence[str], columns: list[str]
                      ) -> tuple[dict[str, ModelArrays], dict[str, tuple[np.ndarray, list]],
                                 int]:
    """Each model's labels, predictions and weights over every example, and each slice
    column's (row, value) pairs. The reading, parsing and model runs are tf.data's."""
    loaded = [tf.saved_model.load(model.path) for model in models]  # kept for the signatures
    records = tf.data.TFRecordDataset(list(files), compression_type=_compression(files))
    first = next(iter(records.take(1)), None)
    if first is None:
        raise ValueError(f"the eval split has no examples: {', '.join(files)}")
    raw_labels = {model.spec.label_key for model in models
                  if not model.spec.preprocessing_function_names}
    types = _raw_types(first.numpy(), [*columns, *raw_labels])
    for label in raw_labels:
        if label not in types:
            raise ValueError(f"the eval examples have no label column {label!r} "
                             f"(first file {files[0]})")
    spec = {name: tf.io.RaggedFeature(kind) for name, kind in types.items()}
    signatures = []
    for model, saved in zip(models, loaded, strict=True):
        name = model.spec.signature_name or "serving_default"
        label_function = (model.spec.preprocessing_function_names[0]
                          if model.spec.preprocessing_function_names else None)
        signatures.append((_call(saved, name), _call(saved, label_function)
                           if label_function else None))

    def run(examples: tf.Tensor) -> tuple[dict, list]:
        parsed = tf.io.parse_example(examples, spec) if spec else {}
        raw = {name: (values.flat_values, values.value_rowids())
               for name, values in parsed.items()}
        outputs = []
        for (serve, label_function), model in zip(signatures, models, strict=True):
            predictions = serve(examples)[model.spec.prediction_key]
            if label_function:
                labels = label_function(examples)[model.spec.label_key]
                counts = tf.ones_like(tf.reshape(labels, [tf.shape(examples)[0], -1])[:, 0],
                                      dtype=tf.int64)
            else:
                raw_label = parsed[model.spec.label_key]
                labels = raw_label.to_tensor(shape=[None, 1])[:, 0]
                counts = raw_label.row_lengths()
            outputs.append((labels, predictions, counts))
        return raw, tuple(outputs)

    dataset = (records.batch(EVALUATION_BATCH)
               .map(run, num_parallel_calls=2, deterministic=True).prefetch(2))
    labels: list[list[np.ndarray]] = [[] for _ in models]
    predictions: list[list[np.ndarray]] = [[] for _ in models]
    values: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in columns}
    rows = 0
    for raw, outputs in dataset.as_numpy_iterator():
        count = len(outputs[0][1])
        for index, (label, prediction, label_counts) in enumerate(outputs):
            if not np.all(label_counts == 1):
                row = rows + int(np.flatnonzero(label_counts != 1)[0])
                raise ValueError(
                    f"eval example {row} (counting from 0 over {', '.join(files)}) has "
                    f"{int(label_counts[row - rows])} values of the label "
                    f"{models[index].spec.label_key!r}; every eval example needs one")
            labels[index].append(np.asarray(label).reshape(count, -1))
            predictions[index].append(np.asarray(prediction).reshape(count, -1))
        for name in columns:
            if name in raw:
                flat, row_ids = raw[name]
                values[name].append((row_ids + rows, flat))
        rows += count
    arrays = {}
    for index, model in enumerate(models):
        label = np.concatenate(labels[index])
        arrays[model.spec.name] = ModelArrays(
            label[:, 0] if label.shape[1] == 1 else label, np.concatenate(predictions[index]),
            np.ones(rows))
    slice_values = {}
    for name, parts in values.items():
        if parts:
            slice_values[name] = (np.concatenate([row for row, _ in parts]),
                                  [value for _, flat in parts for value in flat.tolist()])
    return arrays, slice_values, rows


def _call(saved: Any, signature: str) -> Any:
    """A signature of `saved` called with the serialized examples, whatever its input is
    named (TFMA feeds a signature of one string input the serialized examples)."""
    function = saved.signatures[signature]
    inputs = function.structured_input_signature[1]
    if len(inputs) != 1:
        raise NotArrayEvaluable(f"the signature {signature!r} takes {len(inputs)} inputs")
    [name] = inputs
    if inputs[name].dtype != tf.string:
        raise NotArrayEvaluable(f"the signature {signature!r} does not take serialized "
                                "examples")
    return lambda examples: function(**{name: examples})


def _slices(eval_config: tfma.EvalConfig, slice_values: dict[str, tuple[np.ndarray, list]],
            rows: int) -> list[tuple[SliceKey, np.ndarray]]:
    """Each slice's key, as TFMA's slicer builds it (values decoded to text, several
    columns in name order), and its rows. A row holding several values of a column is in
    the slice of each; a row holding none is in none of the column's slices."""
    slices: dict[SliceKey, np.ndarray] = {}
    for spec in eval_config.slicing_specs:
        columns = sorted(set(spec.feature_keys))
        if not columns:
            slices.setdefault((), np.arange(rows))
            continue
        if len(columns) > 1:
            keyed = _crossed_rows(columns, slice_values)
        else:
            keyed = _column_rows(columns[0], slice_values)
        for key, indices in keyed:
            slices.setdefault(key, indices)
    return list(slices.items())


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _column_rows(column: str, slice_values: dict[str, tuple[np.ndarray, list]]
                 ) -> list[tuple[SliceKey, np.ndarray]]:
    if column not in slice_values:
        return []
    row_ids, values = slice_values[column]
    present, codes = np.unique(np.array(values, dtype=object), return_inverse=True)
    pairs = np.unique(np.stack([codes.reshape(-1), row_ids]), axis=1)  # a value once per row
    order = np.argsort(pairs[0], kind="stable")
    codes_sorted, rows_sorted = pairs[0][order], pairs[1][order]
    bounds = np.flatnonzero(np.diff(codes_sorted)) + 1
    result = []
    for group in np.split(np.arange(len(codes_sorted)), bounds):
        if len(group):
            value = present[codes_sorted[group[0]]]
            result.append((((column, _text(value)),), rows_sorted[group]))
    return result


def _crossed_rows(columns: list[str], slice_values: dict[str, tuple[np.ndarray, list]]
                  ) -> list[tuple[SliceKey, np.ndarray]]:
    """Crossed columns, for rows holding one value of each (several: NotArrayEvaluable)."""
    by_row: dict[int, list[Any]] = {}
    for position, column in enumerate(columns):
        if column not in slice_values:
            return []
        row_ids, values = slice_values[column]
        if len(np.unique(row_ids)) != len(row_ids):
            raise NotArrayEvaluable(f"crossed slice column {column!r} holds several values")
        for row, value in zip(row_ids.tolist(), values, strict=True):
            by_row.setdefault(row, [None] * len(columns))[position] = _text(value)
    groups: dict[SliceKey, list[int]] = {}
    for row, row_values in sorted(by_row.items()):
        if None not in row_values:
            groups.setdefault(tuple(zip(columns, row_values, strict=True)), []).append(row)
    return [(key, np.array(indices)) for key, indices in groups.items()]


def _slice_results(arrays: dict[str, ModelArrays], computations: Any,
                   baseline: str | None) -> dict:
    """One slice's metrics and plots, as TFMA's combine, derived, diff and private-metric
    steps give them (metrics_plots_and_validations_evaluator)."""
    results: dict = {}
    for computation in computations.non_derived_computations:
        model_name = computation.keys[0].model_name
        accumulator = accumulator_of(computation.combiner, arrays[model_name])
        results.update(computation.combiner.extract_output(accumulator))
    for computation in computations.derived_computations:
        results.update(computation.result(results))
    if baseline:
        diffs = {}
        for key, value in results.items():
            if _is_private_metrics(key) or key.is_diff:
                continue
            baseline_key = key.make_baseline_key(baseline)
            if key.model_name != baseline and baseline_key in results \
                    and _is_metric_diffable(value):
                diffs[key.make_diff_key()] = value - results[baseline_key]
        results.update(diffs)
    return _remove_private_metrics((), copy.copy(results))[1]


def _write(eval_config: tfma.EvalConfig, models: Sequence[EvaluatedModel], output_uri: str,
           sliced_metrics: list, sliced_plots: list, pipeline: beam.Pipeline | None) -> None:
    """TFMA's own writers: metrics, plots, attributions (none), validations and
    eval_config.json, in a Beam pipeline over the per-slice results."""
    validations = [metrics_validator.validate_metrics(item, eval_config)
                   for item in sliced_metrics]
    output_paths = {key: os.path.join(output_uri, key) for key in (
        tfma_constants.METRICS_KEY, tfma_constants.PLOTS_KEY,
        tfma_constants.ATTRIBUTIONS_KEY, tfma_constants.VALIDATIONS_KEY)}
    writers = [
        eval_config_writer.EvalConfigWriter(
            output_uri, eval_config=eval_config,
            model_locations={model.spec.name: model.path for model in models}),
        metrics_plots_and_validations_writer.MetricsPlotsAndValidationsWriter(
            output_paths=output_paths, eval_config=eval_config, add_metrics_callbacks=[],
            output_file_format="tfrecord", rubber_stamp=False),
    ]
    with (pipeline or beam.Pipeline()) as root:
        evaluation = {
            tfma_constants.METRICS_KEY: root | "Metrics" >> beam.Create(sliced_metrics),
            tfma_constants.PLOTS_KEY: root | "Plots" >> beam.Create(sliced_plots),
            tfma_constants.ATTRIBUTIONS_KEY: root | "Attributions" >> beam.Create([]),
            tfma_constants.VALIDATIONS_KEY: root | "Validations" >> beam.Create(validations),
        }
        _ = evaluation | "WriteResults" >> tfma.WriteResults(writers=writers)
