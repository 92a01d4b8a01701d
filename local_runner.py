"""Runs the pipeline on this machine: `python local_runner.py [--variant=NAME] [--key=value ...]`.

Settings come from pipeline/config.py, variants.yaml, TFX_PIPELINE_<KEY> variables and
the flags. Prints progress per component, then a summary; exits 1 when the run fails and
2 when the configuration is wrong.
"""

from __future__ import annotations

import sys

import pipeline  # noqa: F401 - selects Keras before TensorFlow loads
from pipeline.config import ConfigError, load_config
from pipeline.local import LocalLayout, run_local_pipeline
from pipeline.run_summary import print_run_summary


def main(argv: list[str]) -> int:
    try:
        config = load_config(argv)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    print(f"Effective configuration (variant {config.variant!r}):\n{config.to_json()}\n")
    result = run_local_pipeline(config)
    print_run_summary(config, LocalLayout.for_config(config), result)
    return 0 if result.succeeded else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
