"""Lineage from ML Metadata: which data, code, settings and libraries made a model.

    python lineage.py runs                     # every run: status, metrics, blessed, pushed
    python lineage.py show [MODEL]             # a model's whole upstream story (default: latest)
    python lineage.py diff RUN RUN             # only what differs between two runs
    python lineage.py graph [MODEL] [--format=svg|png|dot] [--out=PATH]
    python lineage.py reproduce RUN [--force]  # re-run a run from its record, compare metrics

MODEL is a pushed version, a Model/PushedModel artifact id, or "latest" (the model pushed
last); RUN is a run number from `runs`, "latest" or "previous". Every subcommand takes
--json, and the pipeline settings (--output_root=, --pipeline_name=, --metadata_connection=
for a gRPC or MySQL store, --variant=...). The store is only read; reproduce writes its
run under OUTPUT_ROOT/reproductions/. Exits 1 with a one-line message on a bad id or store.
The `lineage` task of `python -m pipeline` (pipeline/cli.py).
"""

import sys

from pipeline import cli


def main(argv: list[str]) -> int:
    return cli.main(["lineage", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
