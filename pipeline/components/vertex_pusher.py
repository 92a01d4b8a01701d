"""TFX's Vertex AI Pusher (upload and deploy to an endpoint), shipping the serving
sandbox's stamped copy of the model, as the other Pushers do
(pipeline/components/atomic_pusher.py). A module of its own: aiplatform, under TFX's
Vertex extensions, takes about 9 s to import and only a cloud pipeline needs it.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
from tfx.dsl.components.base import executor_spec
from tfx.extensions.google_cloud_ai_platform.pusher import component as vertex_component
from tfx.extensions.google_cloud_ai_platform.pusher import executor as vertex_executor

from pipeline.components.atomic_pusher import PushesTheSandboxedModel


class SandboxedVertexPushExecutor(PushesTheSandboxedModel, vertex_executor.Executor):
    """Vertex AI's push of the sandbox's stamped copy."""


class SandboxedVertexPusher(vertex_component.Pusher):
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(SandboxedVertexPushExecutor)
