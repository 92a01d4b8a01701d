"""What the serving sandbox measured, declared once: the sandbox writes these fields as
its InfraBlessing's properties, and the run summary, lineage and the report read them
back through `SandboxFigures` (a leaf: no TensorFlow, no TFX)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class SandboxFigures:
    """One candidate served from a fresh process (pipeline/serving/sandbox.py)."""

    server: str  # which server loaded it: tensorflow_model_server or ours
    load_seconds: float  # until the server reported the model AVAILABLE
    answers_checked: int  # examples whose served answers equal the in-process ones
    latency_p50_ms: float  # one example per request
    latency_p99_ms: float
    single_requests: int
    batch_latency_p50_ms: float  # `sandbox_batch_size` examples per request
    batch_latency_p99_ms: float
    batch_requests: int
    examples_per_second: float  # in the batch requests, all clients together

    def to_properties(self) -> dict[str, Any]:
        """The fields as an artifact's custom properties (floats rounded)."""
        return {key: round(value, 4) if isinstance(value, float) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> SandboxFigures | None:
        """The figures an InfraBlessing holds; None when the sandbox served nothing (the
        candidate was not blessed, or failed to load)."""
        names = [field.name for field in dataclasses.fields(cls)]
        if not all(name in properties for name in names):
            return None
        return cls(**{name: properties[name] for name in names})

    def describe(self) -> str:
        return (f"served by {self.server} (loaded in {self.load_seconds:.1f} s, "
                f"{self.answers_checked} answers equal the in-process ones); one example "
                f"p50 {self.latency_p50_ms:.2f} ms, p99 {self.latency_p99_ms:.2f} ms; batches "
                f"p50 {self.batch_latency_p50_ms:.2f} ms, p99 {self.batch_latency_p99_ms:.2f} "
                f"ms, {self.examples_per_second:,.0f} examples/s")
