"""Derives testdata/penguins.jsonl from the Palmer penguins table in the `palmerpenguins`
package (a dev dependency; the anchor of TFX's own penguin example).

Run with the project's venv: `.venv/bin/python testdata/derive_penguins.py`.
All 344 penguins, in the package's order; "NA" cells become JSON null and numbers keep
their CSV type. The file is read directly (not through `palmerpenguins.load_penguins`,
which needs pandas and setuptools' pkg_resources at import).
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

from derive_testdata import typed_cell  # this folder is on the path of its scripts

SPEC = importlib.util.find_spec("palmerpenguins")
SOURCE = Path(next(iter(SPEC.submodule_search_locations))) / "data" / "penguins.csv"
TARGET = Path(__file__).parent / "penguins.jsonl"


def main() -> None:
    with SOURCE.open(newline="") as handle, TARGET.open("w") as out:
        rows = [{name: typed_cell(cell, ("", "NA")) for name, cell in row.items()}
                for row in csv.DictReader(handle)]
        for row in rows:
            out.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} penguins to {TARGET}")


if __name__ == "__main__":
    main()
