"""The Evaluator's metrics per slice computed on whole arrays, written exactly as TFMA
writes them.

TFMA's Beam evaluation slices every example and adds it into every metric combiner of
every slice in Python, one call at a time: about 1,000 eval rows/s on 2 cores, the
slowest step of a large run (docs/benchmarks.md, "Where the Evaluator's time goes").
Here TensorFlow reads the examples and runs each model's signature on whole batches (as
TFMA's predict extractor does), the slices are row indices, and each combiner's
accumulator is built from a slice's arrays at once (evaluation/array_metrics.py). From the
accumulators on, everything is TFMA's own: its computations from the EvalConfig, its
`extract_output`s, derived metrics, diffs against the baseline, the validator and its
merge, and the converters and formats of the metrics, plots, validations and
eval_config files, so `tfma.load_*`, the Pusher's blessing and the reports read the
output unchanged.

`evaluate` raises `NotArrayEvaluable` for an EvalConfig this path does not cover (a metric
combiner without an array builder, confidence intervals, cross slices, slices by value,
example weights, crossed columns); the Evaluator then runs TFMA's own Beam evaluation instead.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import Any

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


class SliceColumn:
    """One slice column's values over the rows read so far, as (row, code) pairs and the
    distinct values the codes stand for: a few bytes a value, however many rows."""

    def __init__(self) -> None:
        self.vocabulary: dict[Any, int] = {}
        self._rows: list[np.ndarray] = []
        self._codes: list[np.ndarray] = []

    def add(self, rows: np.ndarray, values: np.ndarray) -> None:
        distinct, inverse = np.unique(values, return_inverse=True)
        codes = np.array([self.vocabulary.setdefault(value, len(self.vocabulary))
                          for value in distinct.tolist()], dtype=np.int64)
        self._rows.append(rows.astype(np.int64))
        self._codes.append(codes[inverse.reshape(-1)] if len(codes) else
                           np.zeros(0, np.int64))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, codes), each row's distinct values once."""
        if not self._rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pairs = np.unique(np.stack([np.concatenate(self._codes),
                                    np.concatenate(self._rows)]), axis=1)
        return pairs[1], pairs[0]

    def values(self) -> list[Any]:
        """The value of each code, decoded to text as TFMA's slicer does."""
        return [_text(value) for value in self.vocabulary]


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
        if len(set(spec.feature_keys)) > 1:
            raise NotArrayEvaluable("a slice crosses several columns")
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
             example_files: Sequence[str], output_uri: str) -> None:
    """Evaluates `models` on the tf.Examples in `example_files` as TFMA's
    ExtractEvaluateAndWriteResults would with `eval_config` (already updated with TFMA's
    defaults), and writes TFMA's output files under `output_uri`."""
    computations = check_evaluable(eval_config)
    columns = _slice_columns(eval_config)
    arrays, slice_columns, rows = _read_and_predict(eval_config, models, example_files, columns)
    baseline = next((model.spec.name for model in models if model.spec.is_baseline), None)
    sliced_metrics, sliced_plots = [], []
    for slice_key, indices in _slices(eval_config, slice_columns, rows):
        results = _slice_results({name: value.take(indices) for name, value in arrays.items()},
                                 computations, baseline)
        sliced_metrics.append(_filter_by_key_type((slice_key, results),
                                                  metric_types.MetricKey))
        sliced_plots.append(_filter_by_key_type((slice_key, results), metric_types.PlotKey))
    _write(eval_config, models, output_uri, sliced_metrics, sliced_plots)


def predictions_by_slice(eval_config: tfma.EvalConfig, models: Sequence[EvaluatedModel],
                         example_files: Sequence[str]
                         ) -> tuple[dict[str, ModelArrays], list[tuple[SliceKey, np.ndarray]]]:
    """Each model's labels and predictions over the examples (by its spec's name), and
    each slice of `eval_config` with its rows: what a comparison of models on the same rows
    reads (evaluation/monitoring.py's bootstrap)."""
    columns = _slice_columns(eval_config)
    arrays, slice_columns, rows = _read_and_predict(eval_config, models, example_files, columns)
    return arrays, _slices(eval_config, slice_columns, rows)


def _slice_columns(eval_config: tfma.EvalConfig) -> list[str]:
    return sorted({column for spec in eval_config.slicing_specs for column in spec.feature_keys})


def _compression(files: Sequence[str]) -> str:
    kinds = {file.endswith(".gz") for file in files}
    if len(kinds) > 1:
        raise NotArrayEvaluable("the eval split mixes compressed and plain files")
    return "GZIP" if kinds == {True} else ""


def _raw_types(records: tf.data.Dataset, names: Iterable[str]) -> dict[str, tf.DType]:
    """The TensorFlow type of each of `names` the examples hold, read from the first
    batches that hold a value of it (a column can be missing from the first rows)."""
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    decoder = example_coder.ExamplesToRecordBatchDecoder()
    wanted, types = set(names), {}
    for batch in records.batch(EVALUATION_BATCH).as_numpy_iterator():
        schema = decoder.DecodeBatch(list(batch)).schema
        for name in sorted(wanted - types.keys()):
            index = schema.get_field_index(name)
            if index < 0 or pa.types.is_null(schema.field(index).type.value_type):
                continue
            kind = schema.field(index).type.value_type
            types[name] = (tf.int64 if pa.types.is_integer(kind) else
                           tf.float32 if pa.types.is_floating(kind) else tf.string)
        if types.keys() == wanted:
            break
    return types


def _read_and_predict(eval_config: tfma.EvalConfig, models: Sequence[EvaluatedModel],
                      files: Sequence[str], columns: list[str]
                      ) -> tuple[dict[str, ModelArrays], dict[str, SliceColumn], int]:
    """Each model's labels, predictions and weights over every example, and each slice
    column's (row, value) pairs. The reading, parsing and model runs are tf.data's."""
    loaded = [tf.saved_model.load(model.path) for model in models]  # kept for the signatures
    records = tf.data.TFRecordDataset(list(files), compression_type=_compression(files))
    first = next(iter(records.take(1)), None)
    if first is None:
        raise ValueError(f"the eval split has no examples: {', '.join(files)}")
    raw_labels = {model.spec.label_key for model in models
                  if not model.spec.preprocessing_function_names}
    types = _raw_types(records, [*columns, *raw_labels])
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
    slice_columns = {name: SliceColumn() for name in columns}
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
                slice_columns[name].add(row_ids + rows, flat)
        rows += count
    arrays = {}
    for index, model in enumerate(models):
        label = np.concatenate(labels[index])
        arrays[model.spec.name] = ModelArrays(
            label[:, 0] if label.shape[1] == 1 else label, np.concatenate(predictions[index]),
            np.ones(rows))
    return arrays, slice_columns, rows


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


def _slices(eval_config: tfma.EvalConfig, slice_columns: dict[str, SliceColumn],
            rows: int) -> list[tuple[SliceKey, np.ndarray]]:
    """Each slice's key, as TFMA's slicer builds it (values decoded to text), and its
    rows. A row holding several values of a column is in
    the slice of each; a row holding none is in none of the column's slices."""
    slices: dict[SliceKey, np.ndarray] = {}
    for spec in eval_config.slicing_specs:
        columns = sorted(set(spec.feature_keys))
        if not columns:
            slices.setdefault((), np.arange(rows))
            continue
        for key, indices in _column_rows(columns[0], slice_columns[columns[0]]):
            slices.setdefault(key, indices)
    return list(slices.items())


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _groups(codes: np.ndarray, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(code, its rows in order) for each code present."""
    order = np.argsort(codes, kind="stable")
    codes, rows = codes[order], rows[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    return [(int(codes[group[0]]), rows[group])
            for group in np.split(np.arange(len(codes)), bounds) if len(group)]


def _column_rows(column: str, values: SliceColumn) -> list[tuple[SliceKey, np.ndarray]]:
    rows, codes = values.pairs()
    texts = values.values()
    return [(((column, texts[code]),), np.sort(indices)) for code, indices in _groups(codes, rows)]


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
           sliced_metrics: list, sliced_plots: list) -> None:
    """The files TFMA's writers leave (metrics, plots, attributions (none), validations,
    eval_config.json), made with TFMA's own converters and validation merge. Written here
    rather than through TFMA's Beam writers: a Beam pipeline for a few dozen records cost
    about 5 s, more than the metrics of a million rows."""
    if eval_config.options.disabled_outputs.values:
        raise NotArrayEvaluable("the EvalConfig disables outputs")
    merged = metrics_plots_and_validations_writer.CombineValidations(
        eval_config, rubber_stamp=False)
    validation = merged.create_accumulator()
    for item in sliced_metrics:
        validation = merged.add_input(validation,
                                      metrics_validator.validate_metrics(item, eval_config))
    records = {
        f"{tfma_constants.METRICS_KEY}-00000-of-00001.tfrecord": [
            metrics_plots_and_validations_writer.convert_slice_metrics_to_proto(item, [])
            for item in sliced_metrics],
        f"{tfma_constants.PLOTS_KEY}-00000-of-00001.tfrecord": [
            metrics_plots_and_validations_writer.convert_slice_plots_to_proto(item, [])
            for item in sliced_plots],
        f"{tfma_constants.ATTRIBUTIONS_KEY}-00000-of-00001.tfrecord": [],
        f"{tfma_constants.VALIDATIONS_KEY}.tfrecord": [merged.extract_output(validation)],
    }
    tf.io.gfile.makedirs(output_uri)
    for name, protos in records.items():
        with tf.io.TFRecordWriter(os.path.join(output_uri, name)) as out:
            for proto in protos:
                out.write(proto.SerializeToString())
    with tf.io.gfile.GFile(os.path.join(
            output_uri, f"{eval_config_writer.EVAL_CONFIG_FILE}."
                        f"{eval_config_writer.EVAL_CONFIG_FILE_FORMAT}"), "w") as out:
        out.write(eval_config_writer._serialize_eval_run(  # noqa: SLF001 - TFMA's own format
            eval_config, "<user provided PCollection>", "<unknown>",
            {model.spec.name: model.path for model in models}))
