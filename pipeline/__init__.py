"""The pipeline: settings and their checks, `create_pipeline`, and by role:
`components/` (our TFX components), `serving/` (the sandbox and its model server),
`orchestration/` (running it locally or on Vertex AI, train-all, summaries) and
`metadata/` (ML Metadata: the store, run records, lineage).

Importing this package does nothing else; the Keras choice is `pipeline.keras_choice`,
imported explicitly by every entry point.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

# Our artifact types, by the names Vertex AI knows them by. A Vertex schema title is
# "namespace.Title" (one dot), and Vertex's executor entry point imports an artifact's
# class by its title: "pipeline.AcceptedStatistics" must be importable, or every step
# that reads or writes one fails on Vertex (`vertex_runner.py dry-run` found this).
# Found on first use (PEP 562) by the `TYPE_NAME = "pipeline.<Title>"` each artifact class
# declares in the modules below, so importing this package still loads nothing and no
# list is kept by hand. The modules are not named as module names either, which the code
# fingerprints (pipeline/fingerprint.py) would follow from every module importing this
# package: no step's behaviour depends on these classes being reachable here.
_ARTIFACT_FOLDERS = ("components", "serving")


def artifact_modules() -> dict[str, str]:
    """Artifact title -> the module (relative to this package) that declares it."""
    found = {}
    root = Path(__file__).resolve().parent
    for folder in _ARTIFACT_FOLDERS:
        for path in sorted((root / folder).glob("*.py")):
            for title in re.findall(r'^\s+TYPE_NAME = "pipeline\.(\w+)"', path.read_text(),
                                    re.MULTILINE):
                found[title] = f"{folder}.{path.stem}"
    return found


def __getattr__(name: str) -> type:
    module = artifact_modules().get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
