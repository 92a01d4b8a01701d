"""PredictionWriter: BulkInferrer's prediction logs as one JSON line per scored row, and on
Vertex AI as rows of a BigQuery table.

Each line holds the row's origin (`source`, file:line, or the BigQuery table), its key and
pass-through columns (as text, as the table gave them), and the prediction, as its task's
`prediction_fields` names it (tasks/<name>/spec.py):
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
import os
from typing import Any

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.artifact import Artifact
from tfx.types.standard_artifacts import InferenceResult

from pipeline.settings import SOURCE_FEATURE, ScoringSettings
from tasks import Task, task_named

PREDICTIONS_FILE = "predictions.jsonl"
BIGQUERY_BATCH_ROWS = 500  # rows per streaming insert


class Predictions(Artifact):
    """Batch predictions: PREDICTIONS_FILE, one JSON object per scored row."""

    TYPE_NAME = "pipeline.Predictions"  # namespace.Title, as Vertex AI requires


def _values(tensor: Any) -> list[Any]:
    """A TensorProto's values as a flat list, read from its fields directly
    (tf.make_ndarray costs more than the rest of a line)."""
    if tensor.float_val:
        return list(tensor.float_val)
    if tensor.string_val:
        return list(tensor.string_val)
    if tensor.tensor_content:
        import numpy as np
        from tensorflow.core.framework import types_pb2

        dtype = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64,
                 types_pb2.DT_INT64: np.int64}[tensor.dtype]
        return np.frombuffer(tensor.tensor_content, dtype=dtype).tolist()
    return list(tensor.double_val or tensor.int64_val)


def prediction_lines(log_files: list[str], task: Task, columns: list[str]):  # noqa: ANN201
    """Yields one line's dict per example in BulkInferrer's PredictionLog files (one
    example per log, as BulkInferrer writes them)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    wanted = [SOURCE_FEATURE, *columns]
    # In batches: one eager step per record cost twice the parsing.
    records = (record for batch in tf.data.TFRecordDataset(
        log_files, compression_type="GZIP").batch(1024).as_numpy_iterator() for record in batch)
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record).predict_log
        [serialized] = log.request.inputs["examples"].string_val
        features = tf.train.Example.FromString(serialized).features.feature
        line = {}
        for name in wanted:
            values = features[name].bytes_list.value if name in features else []
            line["source" if name == SOURCE_FEATURE else name] = (
                values[0].decode() if values else None)
        line.update(task.prediction_fields({name: _values(tensor) for name, tensor in
                                            log.response.outputs.items()}))
        yield line


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
def PredictionWriter(  # noqa: N802
    inference_result: InputArtifact[InferenceResult],
    settings: Parameter[str],
    code: Parameter[str],
    predictions: OutputArtifact[Predictions],
) -> None:
    """Writes PREDICTIONS_FILE from BulkInferrer's logs (see the module's docstring), and
    appends it to `predictions_bigquery_table` when that is set. `settings`: the
    `ScoringSettings`. `code` is the hash of this step's source."""
    import tensorflow as tf  # gfile: the artifact is a gs:// path on Vertex AI

    scoring = ScoringSettings.from_dict(json.loads(settings), "PredictionWriter")
    columns = list(dict.fromkeys([*scoring.key_columns, *scoring.passthrough_columns]))
    logs = sorted(tf.io.gfile.glob(os.path.join(inference_result.uri, "*.gz")))
    final = os.path.join(predictions.uri, PREDICTIONS_FILE)
    partial = final + ".partial"
    count = 0
    tf.io.gfile.makedirs(predictions.uri)
    with tf.io.gfile.GFile(partial, "w") as handle:
        for line in prediction_lines(logs, task_named(scoring.task), columns):
            handle.write(json.dumps(line) + "\n")
            count += 1
    tf.io.gfile.rename(partial, final, overwrite=True)
    predictions.set_int_custom_property("rows", count)
    if scoring.predictions_bigquery_table:
        appended = append_to_bigquery(final, scoring.predictions_bigquery_table,
                                      task_named(scoring.task), columns)
        predictions.set_string_custom_property("bigquery_table",
                                               scoring.predictions_bigquery_table)
        predictions.set_int_custom_property("bigquery_rows", appended)
    print(f"PredictionWriter: {count:,} predictions in {final}", flush=True)
