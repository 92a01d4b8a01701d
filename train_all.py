"""Trains every model variant on one ExampleGen and Transform output and compares them:
`python train_all.py [--variants=a,b] [--variant=DATA_VARIANT] [--key=value ...]`.

`--variants` picks model variants from variants.yaml (default: every variant that changes
only the model); the other flags configure the shared data steps and every variant, as
for local_runner.py. Prints the comparison and where it was written; exits 1 when the run
fails and 2 when the configuration is wrong.
"""

from __future__ import annotations

import sys

import pipeline  # noqa: F401 - selects Keras before TensorFlow loads
from pipeline.config import ConfigError, load_config, parse_flags
from pipeline.local import LocalLayout, run_local_pipeline
from pipeline.train_all import (
    collect_comparison,
    comparison_table,
    model_variants,
    record_comparison,
    write_comparison,
)


def main(argv: list[str]) -> int:
    try:
        flags = parse_flags(argv)
        only = [name.strip() for name in flags.pop("variants", "").split(",") if name.strip()]
        rest = [f"--{key}={value}" for key, value in flags.items()]
        base = load_config(rest)
        variants, skipped = model_variants(rest, only=only)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    print(f"Training {len(variants)} variants on the data of variant {base.variant!r}: "
          f"{', '.join(variants)}")
    for name, reason in skipped.items():
        print(f"  left out {name}: {reason}")
    result = run_local_pipeline(base, model_variants=variants)
    if result.run_directory is None or not result.succeeded:
        print(f"\nTRAIN-ALL FAILED. Reason: {result.failure}\nLog: {result.log_path}")
        return 1
    layout = LocalLayout.for_config(base)
    rows = collect_comparison(base, layout, variants)
    record_comparison(layout, rows)
    paths = write_comparison(result.run_directory, rows)
    print("\nComparison on the same eval split (best AUC first):")
    print(comparison_table(rows))
    print("\nReports:")
    for row in rows:
        print(f"  {row['variant']:<22} {row.get('report', '-')}")
    print(f"\nWritten: {paths['csv']}, {paths['png']}, {paths['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
