"""Shared fixtures. Importing `pipeline` first selects Keras before TensorFlow loads."""

from __future__ import annotations

import json
from pathlib import Path

import pipeline  # noqa: F401 - must precede TensorFlow imports
import pytest

from pipeline.config import REPOSITORY_ROOT, PipelineConfig

TESTDATA = REPOSITORY_ROOT / "testdata" / "taxi_trips.jsonl"


def sample_rows(count: int | None = None) -> list[dict]:
    """The first `count` rows of the sanity dataset, as dicts."""
    rows = []
    with TESTDATA.open() as handle:
        for line in handle:
            rows.append(json.loads(line))
            if count is not None and len(rows) == count:
                break
    return rows


@pytest.fixture(scope="session")
def default_config() -> PipelineConfig:
    return PipelineConfig().validate()


@pytest.fixture(scope="session")
def transform_output_dir(tmp_path_factory: pytest.TempPathFactory,
                         default_config: PipelineConfig) -> Path:
    """A real tf.Transform output (transform_fn + metadata) fitted on 300 testdata rows."""
    from tests.transform_helpers import fit_transform

    directory = tmp_path_factory.mktemp("transform_output")
    fit_transform(default_config, sample_rows(300), directory)
    return directory
