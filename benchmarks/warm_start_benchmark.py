"""Warm start against cold on two consecutive windows of the 15,000-trip taxi sample.

    .venv/bin/python benchmarks/warm_start_benchmark.py [--output_root=DIR]

Sorts the sample (in the tfx wheel) by `trip_start_timestamp` and splits it into an
earlier and a later half. Runs the default pipeline on the earlier half, then on the
later half twice in the same output root: with `warm_start=true` (from the earlier
half's blessed model) and without. Prints, per run, the Trainer's seconds, epochs, the
best validation loss and the epoch that reached it, and for the warm run the epoch and
estimated seconds at which it first matched the cold run's best validation loss. Never
asserts.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

SAMPLE = ("tfx", "examples/chicago_taxi_pipeline/data/simple/data.csv")
ROOT = Path(__file__).resolve().parent.parent


def windows(directory: Path) -> tuple[Path, Path]:
    """The sample's earlier and later halves by trip start, as two CSV files."""
    with resources.files(SAMPLE[0]).joinpath(SAMPLE[1]).open() as handle:
        rows = list(csv.DictReader(handle))
    rows.sort(key=lambda row: int(row["trip_start_timestamp"] or 0))
    paths = (directory / "earlier.csv", directory / "later.csv")
    for path, part in zip(paths, (rows[:len(rows) // 2], rows[len(rows) // 2:]), strict=True):
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(part)
    return paths


def run(output_root: Path, data: Path, *flags: str) -> dict:
    """One local run; its training facts (the model's training.json) and AUC."""
    subprocess.run([sys.executable, "local_runner.py", f"--output_root={output_root}",
                    f"--data_path={data}", *flags], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    [*_, latest] = sorted((output_root / "runs").iterdir())
    summary = json.loads((latest / "summary.json").read_text())
    training = json.loads((Path(summary["model_uri"]) / "Format-Serving" / "assets.extra"
                           / "training.json").read_text())
    return {"training": training, "auc": summary["metrics"]["Overall"].get("auc")}


def describe(name: str, result: dict) -> str:
    training = result["training"]
    losses = training["history"]["val_loss"]
    best = min(losses)
    return (f"{name:<22} Trainer {training['seconds']:7.1f} s, {training['epochs']:3d} epochs, "
            f"first epoch's loss {training['history']['loss'][0]:.4f} and val_loss "
            f"{losses[0]:.4f}, best val_loss {best:.4f} at epoch {1 + losses.index(best)}, "
            f"eval AUC {result['auc']:.4f}; "
            f"{training['warm_start']['summary'] or 'warm_start off'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_root", type=Path)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="warm-start-") as scratch:
        earlier, later = windows(Path(scratch))
        output_root = options.output_root or Path(scratch) / "output"
        first = run(output_root, earlier)
        warm = run(output_root, later, "--warm_start=true")
        cold = run(output_root, later)
    print(describe("earlier half, cold", first))
    print(describe("later half, warm", warm))
    print(describe("later half, cold", cold))
    target = min(cold["training"]["history"]["val_loss"])
    warm_losses = warm["training"]["history"]["val_loss"]
    reached = next((epoch for epoch, loss in enumerate(warm_losses, start=1)
                    if loss <= target), None)
    if reached is None:
        print(f"The warm run never reached the cold run's best val_loss {target:.4f}")
    else:
        per_epoch = warm["training"]["seconds"] / warm["training"]["epochs"]
        cold_best = 1 + cold["training"]["history"]["val_loss"].index(target)
        cold_per_epoch = cold["training"]["seconds"] / cold["training"]["epochs"]
        print(f"Cold's best val_loss {target:.4f}: warm reached it at epoch {reached} "
              f"(about {reached * per_epoch:.1f} s), cold at epoch {cold_best} "
              f"(about {cold_best * cold_per_epoch:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
