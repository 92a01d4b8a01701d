"""Compiles the pipeline for Vertex AI Pipelines and, when asked, submits or schedules it.

    python vertex_runner.py compile  --variant=vertex --gcp_project=P --gcs_root=gs://B
    python vertex_runner.py submit   ...   # compile, then start one run
    python vertex_runner.py schedule ...   # compile, then create the retraining schedule
    python vertex_runner.py images   ...   # print the image URIs to build (scripts/build-images)
    python vertex_runner.py dry-run  ...   # compile, then execute the JSON here, task by task,
        # every artifact on gs:// (a local storage emulator); --storage=local, --cache
    python vertex_runner.py compile-scoring|submit-scoring|schedule-scoring|dry-run-scoring ...
        # the same for batch predictions (batch_predict.py): BigQuery in and out
    python vertex_runner.py compile-evaluation|submit-evaluation|schedule-evaluation|...
        # continuous evaluation (dry-run-evaluation too): retrains when the model degraded

The vertex-* tasks of `python -m pipeline` (pipeline/cli.py), kept as the file the layout
and the README name. Exits 2 on a configuration error, before anything is compiled or
sent; cloud calls use Application Default Credentials.
"""

import sys

from pipeline import cli


def main(argv: list[str]) -> int:
    command, *settings = argv or ["compile"]
    if command not in cli.VERTEX_COMMANDS:
        print(f"Unknown command {command!r}; choose one of: {', '.join(cli.VERTEX_COMMANDS)}.",
              file=sys.stderr)
        return 2
    return cli.main([f"vertex-{command}", *settings])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
