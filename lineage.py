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
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import pipeline  # noqa: F401 - selects Keras before TensorFlow loads
from pipeline import lineage_report
from pipeline.config import ConfigError, load_config
from pipeline.lineage import LineageError


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="lineage.py", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("runs", "show", "diff", "graph", "reproduce"))
    parser.add_argument("ids", nargs="*", help="model or run ids, as the command needs")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--force", action="store_true",
                        help="reproduce even if the code, lock file or data changed")
    parser.add_argument("--format", choices=("svg", "png", "dot"), default="svg")
    parser.add_argument("--out", help="where graph writes (default: "
                        "OUTPUT_ROOT/lineage/model-ID.FORMAT)")
    return parser.parse_known_args(argv)


def main(argv: list[str]) -> int:
    options, settings = parse(argv)
    # TFMA's metric reader logs TensorFlow deprecation notices that say nothing to a reader.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        config = load_config(settings)
        result: Any = lineage_report.COMMANDS[options.command](config, options)
    except (ConfigError, LineageError) as error:
        print(f"lineage.py {options.command}: {error}", file=sys.stderr)
        return 1 if isinstance(error, LineageError) else 2
    if options.json:
        print(json.dumps(result.data, indent=2, sort_keys=True, default=str))
    else:
        print(result.text)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
