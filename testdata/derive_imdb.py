"""Derives testdata/imdb_reviews.jsonl from the 100 labelled IMDB reviews inside the tfx
wheel (`tfx/examples/imdb/data/imdb_small_with_labels.txt`, CSV with `label,text`).

Run with the project's venv: `.venv/bin/python testdata/derive_imdb.py`.
Each review keeps its text and its 0/1 sentiment label (1: positive); HTML line breaks
(`<br />`) become spaces.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import tfx

SOURCE = Path(tfx.__file__).parent / "examples/imdb/data/imdb_small_with_labels.txt"
TARGET = Path(__file__).parent / "imdb_reviews.jsonl"


def main() -> None:
    with SOURCE.open(newline="", encoding="utf-8") as handle, TARGET.open("w") as out:
        rows = list(csv.DictReader(handle))
        for row in rows:
            text = row["text"].replace("<br />", " ")
            out.write(json.dumps({"review": text, "positive": int(row["label"])}) + "\n")
    print(f"wrote {len(rows)} reviews to {TARGET}")


if __name__ == "__main__":
    main()
