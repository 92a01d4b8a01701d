"""Brings the curated schema kept in the repository into the run as its Schema artifact.

TFX's ImportSchemaGen takes a file path and caches on that path, so an edited schema
would silently keep serving the old copy from cache. This component takes the schema's
text as a parameter instead: the text is part of the pipeline definition (locally and in
the compiled Vertex spec), and any edit re-runs exactly what depends on the schema.
"""

# No `from __future__ import annotations`: TFX reads this module's annotations at runtime.
# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import os

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Schema
from tfx.utils import io_utils

SCHEMA_FILE = "schema.pbtxt"  # the name SchemaGen gives its output


@component
def ImportCuratedSchema(schema_text: Parameter[str],  # noqa: N802
                        code: Parameter[str],
                        schema: OutputArtifact[Schema]) -> None:
    """Writes `schema_text` (a text-format Schema proto) as this run's schema. `code` is
    the fingerprint of this module's code, so that editing it re-runs a cached import."""
    io_utils.write_string_file(os.path.join(schema.uri, SCHEMA_FILE), schema_text)
