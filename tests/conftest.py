"""Shared fixtures. Importing `pipeline.keras_choice` first picks Keras before TensorFlow loads."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
from pipeline.settings import PipelineConfig
from pipeline.settings.loading import validate
from tests.configs import taxi_config

# The BigQuery emulator and its testdata table, for the modules that ask for them.
pytest_plugins = ["tests.bigquery_fixtures"]


@pytest.fixture(scope="session")
def default_config() -> PipelineConfig:
    return validate(taxi_config())


@pytest.fixture(scope="session")
def transform_output_dir(tmp_path_factory: pytest.TempPathFactory,
                         default_config: PipelineConfig) -> Path:
    """A real tf.Transform output (transform_fn + metadata) fitted on 300 testdata rows."""
    from tests.helpers import fit_transform, sample_rows

    directory = tmp_path_factory.mktemp("transform_output")
    fit_transform(default_config, sample_rows(300), directory)
    return directory


TRAIN_ROWS, EVAL_ROWS = 400, 100


@pytest.fixture(scope="session")
def trainer_inputs(transform_output_dir: Path, default_config: PipelineConfig,
                   tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Transform's output and an Examples artifact directory of transformed train and
    validation rows (what the Trainer reads), one gzipped file per split: fewer files than
    workers, as Transform often writes."""
    from tests.helpers import sample_rows, write_transformed_examples

    examples_dir = tmp_path_factory.mktemp("transformed_examples")
    rows = sample_rows(TRAIN_ROWS + EVAL_ROWS)
    write_transformed_examples(transform_output_dir, default_config,
                               {"train": rows[:TRAIN_ROWS], "validation": rows[TRAIN_ROWS:]},
                               examples_dir)
    return {"transform_graph": str(transform_output_dir), "examples": str(examples_dir)}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules whose e2e marker says they take the most minutes (`e2e(minutes=N)`,
    as measured on 2 cores) first, so that the parallel workers (`--dist loadfile`, which
    hands out modules in this order) start the longest at once instead of last: the
    Vertex dry runs alone take half an hour. A module's own tests keep their order."""
    minutes: dict[str, float] = {}
    for item in items:
        marker = item.get_closest_marker("e2e")
        name = item.module.__name__
        minutes[name] = max(minutes.get(name, 0.0),
                            float(marker.kwargs.get("minutes", 0)) if marker else 0.0)
    items.sort(key=lambda item: -minutes[item.module.__name__])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Silences one known TensorFlow shutdown message. Functions still cached by TF or
    tf.Transform are freed during interpreter shutdown, after their modules are gone, and
    each prints "Exception ignored in AtomicFunction.__del__" below pytest's summary."""
    import sys

    report = sys.unraisablehook

    def ignore_tensorflow_shutdown(unraisable) -> None:  # noqa: ANN001 - CPython's type
        if getattr(unraisable.object, "__qualname__", "") != "AtomicFunction.__del__":
            report(unraisable)

    sys.unraisablehook = ignore_tensorflow_shutdown
