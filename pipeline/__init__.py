"""The pipeline: settings and their checks, `create_pipeline`, and by role:
`components/` (our TFX components), `orchestration/` (running it locally or on Vertex AI,
train-all, summaries) and `metadata/` (ML Metadata: the store, run records, lineage).

Importing this package does nothing else; the Keras choice is `pipeline.keras_choice`,
imported explicitly by every entry point.
"""
