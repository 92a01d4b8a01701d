"""Compiles the pipeline for Vertex AI Pipelines and, when asked, submits or schedules it.

    python vertex_runner.py compile  --variant=vertex --gcp_project=P --gcs_root=gs://B
    python vertex_runner.py submit   ...   # compile, then start one run
    python vertex_runner.py schedule ...   # compile, then create the retraining schedule
    python vertex_runner.py images   ...   # print the image URIs to build (scripts/build-images)

Settings come from the same layers as the local runner (pipeline/config.py, variants.yaml,
TFX_PIPELINE_<KEY>, --key=value). The compiled JSON goes to OUTPUT_ROOT/vertex/. Exits 2
on a configuration error, before anything is compiled or sent; cloud calls use
Application Default Credentials.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pipeline  # noqa: F401 - selects Keras before TensorFlow loads
from pipeline import vertex
from pipeline.config import ConfigError, load_config

COMMANDS = ("compile", "submit", "schedule", "images")


def main(argv: list[str]) -> int:
    command, *settings = argv or ["compile"]
    if command not in COMMANDS:
        print(f"Unknown command {command!r}; choose one of: {', '.join(COMMANDS)}.",
              file=sys.stderr)
        return 2
    try:
        config = load_config(settings)
        if command == "images":
            for kind, uri in vertex.image_uris(config).items():
                print(f"{kind} {uri}")
            return 0
        if command == "schedule":
            vertex.check_schedulable(config)
        template = Path(config.output_root) / "vertex" / f"{config.pipeline_name}.json"
        spec = vertex.compile_pipeline(config, template)
        print(vertex.describe(config, spec))
        print(f"Compiled pipeline: {template}")
        if command == "compile":
            return 0
        job = vertex.pipeline_job(config, template)
        if command == "submit":
            vertex.submit(config, job)
            print(f"Submitted: {job.resource_name}")
        else:
            created = vertex.schedule(config, job)
            print(f"Scheduled ({config.schedule_cron}): {created.resource_name}")
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
