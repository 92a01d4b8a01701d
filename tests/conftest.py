"""Shared fixtures. Importing `pipeline.keras_choice` first picks Keras before TensorFlow loads."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
from pipeline.settings import PipelineConfig
from pipeline.settings.loading import validate
from tests.configs import taxi_config

# The BigQuery emulator and its testdata table, and the pipeline runs that modules share,
# for the modules that ask for them.
pytest_plugins = ["tests.bigquery_fixtures", "tests.shared_runs"]


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


def _group(item: pytest.Item) -> tuple[str, bool]:
    """The xdist group an item runs in and whether it writes to what the group shares: the
    fixture named by its module's `shares(FIXTURE, writes=...)` marker, else its module."""
    marker = item.get_closest_marker("shares")
    if marker is None:
        return item.module.__name__, False
    return marker.args[0], bool(marker.kwargs["writes"])


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (`--dist loadgroup`)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each module runs on one worker, with the modules that share a session fixture's
    pipeline runs (tests/shared_runs.py) on the same one: readers of its store first, then
    the modules that add to it. The groups whose e2e markers say they take the most minutes
    (`e2e(minutes=N)`, summed over a group's modules, as measured on 2 cores) go first, so
    that the parallel workers (which take groups in this order) start the longest at once
    instead of last. A module's own tests keep their order."""
    groups = {id(item): _group(item) for item in items}
    module_minutes: dict[str, float] = {}
    module_group: dict[str, str] = {}
    for item in items:
        name, marker = item.module.__name__, item.get_closest_marker("e2e")
        module_minutes[name] = max(module_minutes.get(name, 0.0),
                                   float(marker.kwargs.get("minutes", 0)) if marker else 0.0)
        module_group[name] = groups[id(item)][0]
    minutes: dict[str, float] = dict.fromkeys(module_group.values(), 0.0)
    for name, value in module_minutes.items():
        minutes[module_group[name]] += value
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-minutes[groups[id(item)][0]], *groups[id(item)],
                                 order[id(item)]))
    for item in items:  # read by xdist's workers under `--dist loadgroup` (scripts/test)
        item.add_marker(pytest.mark.xdist_group(groups[id(item)][0]))


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
