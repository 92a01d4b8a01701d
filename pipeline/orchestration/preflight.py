"""The checks that a request for a trained model's work (batch predictions, continuous
evaluation) can run at all, before anything runs: light (no TFX, TensorFlow or ML
Metadata, about 7-10 s to import), so that the command line refuses one at once. The
runs themselves (pipeline/orchestration/scoring.py, monitoring.py) make the same checks
first, for callers that reach them directly."""

from __future__ import annotations

from pipeline.orchestration.layout import LocalLayout
from pipeline.settings import PipelineConfig
from pipeline.settings.values import ConfigError


def trained_models_layout(config: PipelineConfig) -> LocalLayout:
    """`config`'s layout, for a step that needs a trained model; ConfigError naming the
    store when there is none."""
    layout = LocalLayout.for_config(config)
    if not layout.has_metadata:
        raise ConfigError(f"No ML Metadata store at {layout.metadata_path}: train and push "
                          "a model first (local_runner.py with the same output_root).")
    return layout


def check_scoring(config: PipelineConfig) -> None:
    """ConfigError when batch predictions have no rows to score or no trained model."""
    if not config.scoring_data_path and config.data_source == "file":
        raise ConfigError("scoring_data_path is empty: name the .jsonl/.csv file (or glob) "
                          "of rows to score.")
    trained_models_layout(config)


def check_evaluation(config: PipelineConfig) -> None:
    """ConfigError when continuous evaluation has no fresh rows or no trained model."""
    if config.data_source == "file" and not config.evaluation_data_path:
        raise ConfigError("evaluation_data_path is empty: name the .jsonl/.csv file (or "
                          "glob) of fresh rows, with their labels.")
    trained_models_layout(config)
