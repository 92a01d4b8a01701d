"""BatchScorer: the scoring split scored with the model's serving signature, a batch at a
time, and written as one JSON line per row; on Vertex AI also appended to a BigQuery table.

Our own step in place of TFX's BulkInferrer followed by a writer of its logs, because
BulkInferrer is tfx-bsl's RunInference: it builds a PredictionLog, with a
`make_tensor_proto` per output, in Python for every example, and the writer then parsed
every log and example back. That held batch scoring at 3,330-6,400 rows/s on 2 cores,
against 320K-560K examples/s for the model itself (docs/benchmarks.md#batch-scoring).
Here TensorFlow reads the examples, parses the key and pass-through columns and runs the
signature on whole batches (the same `serving_default` BulkInferrer called, so the
predictions are the same numbers up to float32 rounding, which varies with the batch's
size in both), and Python only writes the lines. It is one execution in ML Metadata with
the scored Examples and the Model as inputs and the Predictions as output, so a
prediction file traces back to both as it did through BulkInferrer.

Each line holds the row's origin (`source`, file:line, or the BigQuery table), its key and
pass-through columns (as text, as the table gave them), and the prediction, as its task's
`prediction_batch` names it (tasks/<name>/spec.py):
- binary: `probability`, P(label = 1);
- multiclass: `class`, the most probable class, and `probabilities`, class -> P;
- regression: `value`, in the label's units.
The file is written under a temporary name and renamed when complete, so a failed run
leaves no half-written predictions; the BigQuery rows are appended only once the whole
file is written.
"""

# No `from __future__ import annotations`: TFX reads this module's annotations at runtime.
# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import json
import math
import os
from collections.abc import Iterator
from typing import Any

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.artifact import Artifact
from tfx.types.standard_artifacts import Examples, Model

from pipeline.components.example_gen import SCORING_SPLIT
from pipeline.settings import SOURCE_FEATURE, ScoringSettings
from tasks import Task, task_named

PREDICTIONS_FILE = "predictions.jsonl"
BIGQUERY_BATCH_ROWS = 500  # rows per streaming insert
# Examples per call of the signature: the model's own best batch (benchmarks/
# pipeline_benchmark.py measures it at 4,096), small enough to keep memory flat.
SCORING_BATCH = 4096


class Predictions(Artifact):
    """Batch predictions: PREDICTIONS_FILE, one JSON object per scored row."""

    TYPE_NAME = "pipeline.Predictions"  # namespace.Title, as Vertex AI requires


def example_files(examples_uri: str, split: str = SCORING_SPLIT) -> list[str]:
    """The split's TFRecord files, in name order (the order rows are scored and written)."""
    import tensorflow as tf

    return sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))


def score_batches(files: list[str], model_uri: str, columns: list[str],
                  batch_size: int = SCORING_BATCH
                  ) -> Iterator[tuple[dict[str, list[Any]], dict[str, Any]]]:
    """Yields ({column: one text or None per row}, {output: array}) per batch of the
    examples in `files`, scored by the `serving_default` signature of the SavedModel at
    `model_uri`. Reading, parsing the columns and the model run in tf.data's threads,
    ahead of the caller, which writes the previous batch meanwhile."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model_uri)  # kept: its signature needs its variables
    serve = loaded.signatures["serving_default"]
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    first = next(iter(records.take(1)), None)
    texts = _text_columns(first.numpy(), columns) if first is not None else []
    spec = {name: tf.io.RaggedFeature(tf.string) for name in texts}

    def score(examples: tf.Tensor) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        parsed = tf.io.parse_example(examples, spec) if spec else {}
        found = {}
        for name, values in parsed.items():
            found[name] = values.row_lengths() > 0
            found[f"{name}/value"] = values.to_tensor(default_value=b"", shape=[None, 1])[:, 0]
        return found, serve(examples=examples)

    dataset = (records.batch(batch_size)
               .map(score, num_parallel_calls=2, deterministic=True)
               .prefetch(2))
    for found, outputs in dataset.as_numpy_iterator():
        rows = len(next(iter(outputs.values())))
        batch: dict[str, list[Any]] = {}
        for name in columns:
            if name in texts:
                batch[name] = [value.decode() if present else None for value, present in
                               zip(found[f"{name}/value"].tolist(), found[name].tolist(),
                                   strict=True)]
            else:
                batch[name] = [None] * rows
        yield batch, outputs


def _text_columns(example: bytes, columns: list[str]) -> list[str]:
    """The `columns` that `example` holds as text (bytes). ExampleGen writes one type per
    column, and a table's key and pass-through columns as text; a column it does not
    hold, or holds as numbers, gives None on every line."""
    from tfx_bsl.coders import example_coder

    found = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch([example]).schema
    texts = []
    for name in columns:
        index = found.get_field_index(name)
        if index >= 0 and _is_binary(found.field(index).type.value_type):
            texts.append(name)
    return texts


def _is_binary(kind: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def prediction_batches(files: list[str], model_uri: str, task: Task, columns: list[str],
                       batch_size: int = SCORING_BATCH) -> Iterator[list[str]]:
    """One JSON line (without its newline) per example in `files`, in their order, a
    batch's lines at a time. Each line is what `json.dumps` gives for the row's dict,
    built a column at a time: one `json.dumps` per row cost more than the model."""
    wanted = [SOURCE_FEATURE, *columns]
    names = ["source" if name == SOURCE_FEATURE else name for name in wanted]
    fields = [name for name, _ in task.prediction_columns]
    line = "{{" + ", ".join(_TEXT(name).replace("{", "{{").replace("}", "}}") + ": {}"
                            for name in [*names, *fields]) + "}}"
    for texts, outputs in score_batches(files, model_uri, wanted, batch_size):
        predictions = task.prediction_batch(outputs)
        values = [_json_texts(texts[name]) for name in wanted]
        values += [_json_values([prediction[name] for prediction in predictions])
                   for name in fields]
        yield list(map(line.format, *values))


def prediction_lines(files: list[str], model_uri: str, task: Task, columns: list[str],
                     batch_size: int = SCORING_BATCH) -> Iterator[str]:
    """`prediction_batches`' lines one by one."""
    for lines in prediction_batches(files, model_uri, task, columns, batch_size):
        yield from lines


# What json.dumps writes for a str (its default ensure_ascii), in C.
_TEXT = json.encoder.encode_basestring_ascii


def _json_texts(texts: list[str | None]) -> list[str]:
    return ["null" if text is None else _TEXT(text) for text in texts]


def _json_values(values: list[Any]) -> list[str]:
    """Each value as json.dumps writes it: finite floats by their repr (as json does),
    anything else (a multi-class line's dict, NaN) by json itself."""
    if all(type(value) is float for value in values) and math.isfinite(sum(values)):
        return list(map(float.__repr__, values))
    return list(map(_ENCODE, values))


_ENCODE = json.JSONEncoder().encode


def append_to_bigquery(path: str, table: str, task: Task, columns: list[str],
                       client: Any = None) -> int:
    """Appends the lines of `path` to the BigQuery `table` (created when absent), with
    `client` (by default one with Application Default Credentials)."""
    from google.cloud import bigquery

    client = client or _bigquery_client(table.split(".")[0])
    schema = [bigquery.SchemaField("source", "STRING"),
              *(bigquery.SchemaField(name, "STRING") for name in columns),
              *(bigquery.SchemaField(name, kind) for name, kind in task.prediction_columns)]
    client.create_table(bigquery.Table(table, schema=schema), exists_ok=True)
    import tensorflow as tf

    written, batch = 0, []
    with tf.io.gfile.GFile(path) as handle:
        for text in handle:
            batch.append(task.bigquery_row(json.loads(text)))
            if len(batch) == BIGQUERY_BATCH_ROWS:
                written += _insert(client, table, batch)
                batch = []
    if batch:
        written += _insert(client, table, batch)
    return written


def _bigquery_client(project: str) -> Any:
    """BigQuery with Application Default Credentials; in a Vertex dry run, the BigQuery
    emulator the dry run names (DRY_RUN_BIGQUERY_ENDPOINT), as its ExampleGen reads."""
    from google.cloud import bigquery

    from pipeline.orchestration.dry_run_executors import ENDPOINT_VARIABLE

    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    if not endpoint:
        return bigquery.Client(project=project)
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                           client_options={"api_endpoint": endpoint})


def _insert(client: Any, table: str, rows: list[dict]) -> int:
    errors = client.insert_rows_json(table, rows)
    if errors:
        raise RuntimeError(f"BigQuery refused rows of {table}: {errors[:3]}")
    return len(rows)


@component
def BatchScorer(  # noqa: N802
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    settings: Parameter[str],
    code: Parameter[str],
    predictions: OutputArtifact[Predictions],
) -> None:
    """Scores the `score` split of `examples` with `model` and writes PREDICTIONS_FILE (see
    the module's docstring), and appends it to `predictions_bigquery_table` when that is
    set. `settings`: the `ScoringSettings`. `code` is the hash of this step's source."""
    import tensorflow as tf  # gfile: the artifacts are gs:// paths on Vertex AI
    from tfx.utils import path_utils

    scoring = ScoringSettings.from_dict(json.loads(settings), "BatchScorer")
    task = task_named(scoring.task)
    columns = list(dict.fromkeys([*scoring.key_columns, *scoring.passthrough_columns]))
    files = example_files(examples.uri)
    final = os.path.join(predictions.uri, PREDICTIONS_FILE)
    partial = final + ".partial"
    count = 0
    tf.io.gfile.makedirs(predictions.uri)
    with tf.io.gfile.GFile(partial, "w") as handle:
        for lines in prediction_batches(files, path_utils.serving_model_path(model.uri), task,
                                        columns):
            handle.write("\n".join(lines) + "\n")
            count += len(lines)
    tf.io.gfile.rename(partial, final, overwrite=True)
    predictions.set_int_custom_property("rows", count)
    if scoring.predictions_bigquery_table:
        appended = append_to_bigquery(final, scoring.predictions_bigquery_table, task, columns)
        predictions.set_string_custom_property("bigquery_table",
                                               scoring.predictions_bigquery_table)
        predictions.set_int_custom_property("bigquery_rows", appended)
    print(f"BatchScorer: {count:,} predictions in {final}", flush=True)
