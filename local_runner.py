"""Runs the pipeline on this machine: `python local_runner.py [--variant=NAME] [--key=value ...]`.

The `run` task of `python -m pipeline` (pipeline/cli.py), kept as the file the layout and
the README name. Prints progress per component, then a summary; exits 1 when the run
fails and 2 when the configuration is wrong.
"""

import sys

from pipeline import cli


def main(argv: list[str]) -> int:
    return cli.main(["run", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
