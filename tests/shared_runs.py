"""Pipeline runs that more than one test module reads (registered in tests/conftest.py as a
plugin), each made once per session instead of once per module.

A module that reads one says so with `pytest.mark.shares(FIXTURE, writes=...)`: conftest
gives every module sharing FIXTURE one xdist group, so that they run on one worker (which
made the runs) one after another, the modules that only read the store before those that
add to it. Why not copies: ML Metadata records every artifact by its absolute URI, so a
copy of a store still points into the original.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.orchestration.layout import LocalLayout
from pipeline.settings.loading import load_config

TWO_PUSHED_RUNS = "two_pushed_runs"


@pytest.fixture(scope="session")
def two_pushed_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two runs on testdata/ in one store, both pushed: the defaults, then dropout 0.2 (only
    the Trainer's input changed, so Transform and ExampleGen come from the first run's
    cache). tests/test_lineage.py reads them as they are; tests/test_continuous_evaluation.py
    then evaluates what they pushed and starts a retraining run."""
    # Imported here: conftest loads this plugin before pytest reads its arguments, and a
    # refused argument must not wait for TFX (tests/test_cli.py runs scripts/test so).
    from pipeline.orchestration.local import run_local_pipeline
    from pipeline.orchestration.run_summary import collect_run_summary

    root = tmp_path_factory.mktemp("two-pushed-runs")
    runs, latest_flags = [], ["--dropout=0.2"]
    for flags in ([], latest_flags):
        config = load_config([f"--output_root={root}", *flags], environ={})
        result = run_local_pipeline(config)
        assert result.succeeded, result.failure
        runs.append(collect_run_summary(config, LocalLayout.for_config(config)))
    layout = LocalLayout.for_config(config)
    versions = sorted(path.name for path in layout.serving_directory.iterdir())
    assert len(versions) == 2, versions  # the second model was pushed too
    return {"root": Path(root), "layout": layout, "runs": runs, "versions": versions,
            "latest_flags": latest_flags}
