"""ML Metadata: opening a store, walking executions to their outputs, run records,
lineage queries, and Vertex AI's metadata service."""
