"""Running the pipeline: locally (LocalDagRunner, progress, the run summary), train-all,
on Vertex AI, and the lineage commands."""
