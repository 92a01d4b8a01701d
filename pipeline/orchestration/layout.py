"""Where a local run keeps things, all under `output_root`: read by the local runner, the
run summary, train-all and lineage alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.settings import PipelineConfig


@dataclasses.dataclass(frozen=True)
class LocalLayout:
    """Where a local run keeps things, all under `config.output_root`."""

    root: Path

    @classmethod
    def for_config(cls, config: PipelineConfig) -> LocalLayout:
        return cls(Path(config.output_root).expanduser().resolve())

    @property
    def pipeline_root(self) -> Path:
        return self.root / "pipeline"

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata.sqlite"

    @property
    def serving_directory(self) -> Path:
        return self.root / "serving"

    @property
    def runs_directory(self) -> Path:
        return self.root / "runs"
