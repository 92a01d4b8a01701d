"""TFX's Vertex AI Pusher (upload and deploy to an endpoint), shipping the serving
sandbox's stamped copy of the model, as the other Pushers do
(pipeline/components/atomic_pusher.py), and once per model: a blessed candidate
byte-identical to a model the endpoint already serves (an unchanged re-run, whose Trainer
came from cache) is not uploaded and deployed again, so the endpoint keeps one deployed
model per distinct model. A module of its own: aiplatform, under TFX's Vertex
extensions, takes about 9 s to import and only a cloud pipeline needs it.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
from typing import Any

from tfx.dsl.components.base import executor_spec
from tfx.extensions.google_cloud_ai_platform import constants
from tfx.extensions.google_cloud_ai_platform.pusher import component as vertex_component
from tfx.extensions.google_cloud_ai_platform.pusher import executor as vertex_executor
from tfx.utils import json_utils

from pipeline.components.atomic_pusher import (
    PushesEachModelOnce,
    PushesTheSandboxedModel,
    same_tree,
)


class SandboxedVertexPushExecutor(PushesEachModelOnce, PushesTheSandboxedModel,
                                  vertex_executor.Executor):
    """Vertex AI's push of the sandbox's stamped copy, once per model."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],
           exec_properties: dict[str, Any]) -> None:
        custom_config = json_utils.loads(exec_properties.get("custom_config", "null")) or {}
        if self.CheckBlessing(input_dict):
            model = self.GetModelPath(input_dict)
            for name, uri in self.deployed_models(custom_config):
                # What TFX's Vertex Pusher uploads is its copy of the model (the
                # PushedModel's directory): a deployed model's artifact URI.
                if same_tree(model, uri):
                    self.mark_already_serving(output_dict, name)
                    return
        super().Do(input_dict, output_dict, exec_properties)

    def deployed_models(self, custom_config: dict[str, Any]) -> list[tuple[str, str]]:
        """(resource name, artifact URI) of each model deployed on the endpoint the push
        targets (`endpoint_name` in the serving args); none before its first push."""
        from google.cloud import aiplatform

        serving = custom_config.get(constants.SERVING_ARGS_KEY) or {}
        aiplatform.init(project=serving.get("project_id"),
                        location=custom_config.get(constants.VERTEX_REGION_KEY))
        endpoints = aiplatform.Endpoint.list(
            filter=f'display_name="{serving.get("endpoint_name")}"')
        deployed = []
        for endpoint in endpoints:
            for model in endpoint.list_models():
                registered = aiplatform.Model(model.model)
                deployed.append((registered.resource_name, registered.uri))
        return deployed


class SandboxedVertexPusher(vertex_component.Pusher):
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(SandboxedVertexPushExecutor)
