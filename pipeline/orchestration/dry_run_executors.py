"""Executors a Vertex dry run (pipeline/orchestration/vertex_dry_run.py) puts in place of
those that need Google Cloud.

`EmulatedBigQueryExecutor` is TFX's BigQueryExampleGen with the query sent to a BigQuery
emulator (the endpoint in DRY_RUN_BIGQUERY_ENDPOINT) through the BigQuery client, instead
of Beam's BigQuery source, which exports through Cloud Storage. The rows become examples
through the same `row_to_example` as the pipeline's BigQuery executor
(pipeline/components/bigquery_example_gen.py), with the result's column types, and are
split by TFX's base executor as compiled.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import os
from typing import Any

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor

from pipeline.components.bigquery_example_gen import row_to_example

# Endpoint of the BigQuery emulator, for the substituted ExampleGen's process.
ENDPOINT_VARIABLE = "DRY_RUN_BIGQUERY_ENDPOINT"


def _client() -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    endpoint = os.environ[ENDPOINT_VARIABLE]
    return bigquery.Client(project="dry-run", credentials=AnonymousCredentials(),
                           client_options={"api_endpoint": endpoint})


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _EmulatedBigQueryToExample(  # noqa: N802 - Beam's naming convention for PTransforms
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    result = _client().query(split_pattern).result(timeout=300)
    types = {field.name: field.field_type for field in result.schema}
    types = {name: {"FLOAT64": "FLOAT", "INT64": "INTEGER", "BOOL": "BOOLEAN"}.get(kind, kind)
             for name, kind in types.items()}
    rows = [dict(row) for row in result]
    return (pipeline | "Rows" >> beam.Create(rows)
            | "ToTFExample" >> beam.Map(lambda row: row_to_example(types, row)))


class EmulatedBigQueryExecutor(base_example_gen_executor.BaseExampleGenExecutor):
    """BigQueryExampleGen's executor, reading from the emulator."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 - TFX's
        return _EmulatedBigQueryToExample
