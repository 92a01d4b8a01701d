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
    # `metadata_connection`: a shared store (mysql://...) in place of the SQLite file.
    metadata_connection: str = ""

    @classmethod
    def for_config(cls, config: PipelineConfig) -> LocalLayout:
        return cls(Path(config.output_root).expanduser().resolve(), config.metadata_connection)

    @property
    def metadata_target(self) -> str:
        """The store runs write and every reader opens (pipeline/metadata/store.py): the
        configured connection, or this root's SQLite file."""
        return self.metadata_connection or str(self.metadata_path)

    @property
    def has_metadata(self) -> bool:
        """Whether the store can hold runs yet (a SQLite file exists once a run began; a
        server is assumed there, and opening it says otherwise)."""
        return bool(self.metadata_connection) or self.metadata_path.exists()

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
