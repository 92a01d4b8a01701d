"""Train-all against the full pipeline once per variant, on the same data.

    .venv/bin/python benchmarks/train_all_benchmark.py [--variant=full_sample]
        [--variants=default,deep,deep_and_cross,feature_transformer]

Each side starts cold, in its own process and fresh output directory, so imports and
start-up count:
- train-all: `train_all.py` trains every listed variant on one ExampleGen and Transform;
- per variant: `local_runner.py` once per variant (the data variant plus that variant's
  settings as flags), each computing ExampleGen, statistics, Transform, training,
  evaluation and the report anew, as separate pipelines would.
Printed, never asserted: wall time and peak memory of each, and each variant's eval AUC
on both sides (they train on identical Transform output, so they should agree closely).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from pipeline_benchmark import measure

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
from pipeline.settings import REPOSITORY_ROOT
from pipeline.settings.loading import load_variants

PYTHON = str(REPOSITORY_ROOT / ".venv" / "bin" / "python")


def flags_for(variant: str) -> list[str]:
    """A model variant's settings as --key=value flags (JSON values)."""
    return [f"--{key}={json.dumps(value) if not isinstance(value, str) else value}"
            for key, value in load_variants()[variant].items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="full_sample", help="the data variant")
    parser.add_argument("--variants", default="default,deep,deep_and_cross,feature_transformer")
    args = parser.parse_args()
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    environment = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    work = Path(tempfile.mkdtemp(prefix="train_all_benchmark_"))
    print(f"Data variant {args.variant!r}; model variants {', '.join(variants)}; in {work}")

    root = work / "train_all"
    seconds, (peak, _), code = measure(
        [PYTHON, "train_all.py", f"--variant={args.variant}", f"--variants={args.variants}",
         f"--output_root={root}"], environment, work / "train_all.log", REPOSITORY_ROOT)
    if code:
        sys.exit(f"train_all.py failed ({code}); see {work / 'train_all.log'}")
    [run_directory] = (root / "runs").iterdir()
    together = {row["variant"]: row for row in
                json.loads((run_directory / "comparison.json").read_text())}
    print(f"train-all: {seconds:7.1f} s, peak memory {peak / 2**30:.2f} GiB")

    separate: dict[str, dict] = {}
    for name in variants:
        root = work / f"pipeline_{name}"
        log = work / f"pipeline_{name}.log"
        seconds_one, (peak_one, _), code = measure(
            [PYTHON, "local_runner.py", f"--variant={args.variant}", *flags_for(name),
             f"--output_root={root}"], environment, log, REPOSITORY_ROOT)
        if code:
            sys.exit(f"local_runner.py for {name} failed ({code}); see {log}")
        [run_directory] = (root / "runs").iterdir()
        summary = json.loads((run_directory / "summary.json").read_text())
        separate[name] = {"seconds": seconds_one, "peak": peak_one,
                          "auc": summary["metrics"]["Overall"]["auc"]}
        print(f"pipeline for {name}: {seconds_one:7.1f} s, peak memory "
              f"{peak_one / 2**30:.2f} GiB")

    total = sum(entry["seconds"] for entry in separate.values())
    print(f"\n{'variant':<22}{'AUC, train-all':>16}{'AUC, own pipeline':>20}{'pipeline s':>12}")
    for name in variants:
        print(f"{name:<22}{together[name]['auc']:>16.4f}{separate[name]['auc']:>20.4f}"
              f"{separate[name]['seconds']:>12.1f}")
    print(f"\ntrain-all, {len(variants)} variants:        {seconds:8.1f} s")
    print(f"full pipeline per variant, summed: {total:8.1f} s")
    print(f"train-all takes {seconds / total:.0%} of the time ({total - seconds:.0f} s saved)")


if __name__ == "__main__":
    main()
