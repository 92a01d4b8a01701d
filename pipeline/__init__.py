"""The pipeline: settings and their checks, `create_pipeline`, and by role:
`components/` (our TFX components), `orchestration/` (running it locally or on Vertex AI,
train-all, summaries) and `metadata/` (ML Metadata: the store, run records, lineage).

Importing this package does nothing else; the Keras choice is `pipeline.keras_choice`,
imported explicitly by every entry point.
"""

# Our artifact types, by the names Vertex AI knows them by. A Vertex schema title is
# "namespace.Title" (one dot), and Vertex's executor entry point imports an artifact's
# class by its title: "pipeline.AcceptedStatistics" must be importable, or every step
# that reads or writes one fails on Vertex (`vertex_runner.py dry-run` found this).
# Loaded on first use (PEP 562), so importing this package still loads nothing.
_ARTIFACT_TYPES = {
    "AcceptedStatistics": "pipeline.components.anomaly_gate",
    "ModelReport": "pipeline.components.model_report",
    "Predictions": "pipeline.components.prediction_writer",
}


def __getattr__(name: str) -> type:
    if name in _ARTIFACT_TYPES:
        import importlib

        return getattr(importlib.import_module(_ARTIFACT_TYPES[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")

