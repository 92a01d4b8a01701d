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
# Loaded on first use (PEP 562), so importing this package still loads nothing. The
# modules are named relative to pipeline.components, not as full module names, which the
# code fingerprints (pipeline/fingerprint.py) would follow from every module importing
# this package: no step's behaviour depends on these classes being reachable here.
_ARTIFACT_TYPES = {
    "AcceptedStatistics": "anomaly_gate",
    "ModelReport": "model_report",
    "Predictions": "prediction_writer",
}


def __getattr__(name: str) -> type:
    if name in _ARTIFACT_TYPES:
        import importlib

        module = importlib.import_module(f"pipeline.components.{_ARTIFACT_TYPES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")

