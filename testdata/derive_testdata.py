"""Derives testdata/taxi_trips.jsonl from the Chicago taxi sample inside the tfx wheel.

Run with the project's venv: `.venv/bin/python testdata/derive_testdata.py`.
A row is kept when the SHA-256 of its CSV line falls in the lowest 2/15 of the hash
space, so the selection (about 2,000 of the 15,000 trips) is the same on every
machine and does not depend on row order. Empty CSV cells become JSON null; numbers
keep the type the CSV gives them, so the file is what a BigQuery export would hold.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import tfx

SOURCE = Path(tfx.__file__).parent / "examples/chicago_taxi_pipeline/data/simple/data.csv"
TARGET = Path(__file__).parent / "taxi_trips.jsonl"
KEEP_NUMERATOR, KEEP_DENOMINATOR = 2, 15


def typed_cell(cell: str, missing: tuple[str, ...] = ("",)) -> int | float | str | None:
    """A CSV cell as JSON would hold it: None for a `missing` marker, else an int, a float
    or the string."""
    if cell in missing:
        return None
    for convert in (int, float):
        try:
            return convert(cell)
        except ValueError:
            pass
    return cell


def _kept(raw_line: str) -> bool:
    digest = int.from_bytes(hashlib.sha256(raw_line.encode()).digest()[:8], "big")
    return digest % KEEP_DENOMINATOR < KEEP_NUMERATOR


def main() -> None:
    lines = SOURCE.read_text().splitlines()
    header = next(csv.reader(lines[:1]))
    kept = 0
    with TARGET.open("w") as out:
        for raw_line, cells in zip(lines[1:], csv.reader(lines[1:]), strict=False):
            if _kept(raw_line):
                row = {name: typed_cell(cell) for name, cell in zip(header, cells, strict=False)}
                out.write(json.dumps(row, sort_keys=False) + "\n")
                kept += 1
    print(f"wrote {kept} of {len(lines) - 1} trips to {TARGET}")


if __name__ == "__main__":
    main()
