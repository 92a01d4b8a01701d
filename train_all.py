"""Trains every model variant on one ExampleGen and Transform output and compares them:
`python train_all.py [--variants=a,b] [--variant=DATA_VARIANT] [--key=value ...]`.

The `train-all` task of `python -m pipeline` (pipeline/cli.py). Exits 1 when the run fails
and 2 when the configuration is wrong.
"""

import sys

from pipeline import cli


def main(argv: list[str]) -> int:
    return cli.main(["train-all", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
