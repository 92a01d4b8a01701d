"""Batch predictions: `python batch_predict.py --scoring_data_path=ROWS [--key=value ...]`.

Scores a table with the latest pushed model (`--scoring_model=VERSION` names another),
with the same configuration layers as local_runner.py (dataset, variant, environment,
flags), and writes one JSON line per row. The `predict` task of `python -m pipeline`
(pipeline/cli.py); exits 1 when the run fails and 2 when the configuration is wrong.
"""

import sys

from pipeline import cli


def main(argv: list[str]) -> int:
    return cli.main(["predict", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
