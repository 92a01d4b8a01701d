"""RetrainingTrigger: the last step of continuous evaluation on Vertex AI. When the
verdict (ModelHealthCheck's, pipeline/components/model_health.py) says the serving model
degraded, it submits the training pipeline as a Vertex AI PipelineJob; otherwise it does
nothing. Either way its RetrainingRequest artifact, downstream of the verdict, records
what it did and the job it started, so the lineage runs from the verdict to the job.

On this machine the evaluation's own runner starts the training run instead
(pipeline/orchestration/monitoring.py): a local pipeline's step cannot start another run
of the store it is writing. The Vertex dry run replaces the submission with
`RecordedRetrainingExecutor`, which writes the job it would submit.

`job` (a parameter): the aiplatform.PipelineJob's arguments, built by
pipeline/orchestration/vertex.py `vertex_retraining_job`: display_name, template_path (the
compiled training pipeline on gs://, uploaded by `vertex_runner.py submit-evaluation` and
`schedule-evaluation`), pipeline_root, enable_caching, labels, project, location, and
service_account.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import json
import os
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from pipeline.components.model_health import HEALTH_FILE, ModelHealth, read_json

REQUEST_FILE = "retraining.json"


class RetrainingRequest(Artifact):
    """What continuous evaluation did about a verdict (REQUEST_FILE): nothing (`submitted`
    0), or the training pipeline job it submitted (`submitted` 1, `job`)."""

    TYPE_NAME = "pipeline.RetrainingRequest"  # namespace.Title, as Vertex AI requires


class RetrainingTriggerSpec(ComponentSpec):
    PARAMETERS = {"job": ExecutionParameter(type=str), "code": ExecutionParameter(type=str)}
    INPUTS = {"health": ChannelParameter(type=ModelHealth)}
    OUTPUTS = {"request": ChannelParameter(type=RetrainingRequest)}


class Executor(base_executor.BaseExecutor):
    """Submits the training pipeline when the verdict says degraded."""

    def Do(self, input_dict: dict[str, list[types.Artifact]],  # noqa: N802 - TFX's name
           output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]
           ) -> None:
        health = artifact_utils.get_single_instance(input_dict["health"])
        request = artifact_utils.get_single_instance(output_dict["request"])
        verdict = read_json(health.uri, HEALTH_FILE)
        job = json.loads(exec_properties["job"])
        record = {"degraded": verdict["degraded"], "findings": verdict["findings"],
                  "verdict": health.uri, "job": None, "arguments": job}
        if verdict["degraded"]:
            record["job"] = self.submit(job)
            print(f"RetrainingTrigger: the model degraded ({len(verdict['findings'])} "
                  f"finding(s)); training pipeline job {record['job']}", flush=True)
        else:
            print("RetrainingTrigger: the model is healthy; no training run", flush=True)
        request.set_int_custom_property("submitted", int(record["job"] is not None))
        request.set_string_custom_property("job", record["job"] or "")
        import tensorflow as tf

        tf.io.gfile.makedirs(request.uri)
        with tf.io.gfile.GFile(os.path.join(request.uri, REQUEST_FILE), "w") as handle:
            handle.write(json.dumps(record, indent=2, sort_keys=True) + "\n")

    def submit(self, job: dict[str, Any]) -> str:
        """Submits the PipelineJob `job` describes; its resource name."""
        from google.cloud import aiplatform

        arguments = dict(job)
        service_account = arguments.pop("service_account", None) or None
        pipeline_job = aiplatform.PipelineJob(**arguments)
        pipeline_job.submit(service_account=service_account)
        return pipeline_job.resource_name


class RecordedRetrainingExecutor(Executor):
    """The dry run's stand-in (pipeline/orchestration/vertex_dry_run.py): writes the job it
    would submit instead of submitting it; the job's name says so."""

    def submit(self, job: dict[str, Any]) -> str:
        return f"dry-run: not submitted ({job['display_name']} from {job['template_path']})"


class RetrainingTrigger(base_component.BaseComponent):
    """Submits the training pipeline (`job`, a PipelineJob's arguments as JSON) when
    `health` says degraded. `code` is the fingerprint of this module's code."""

    SPEC_CLASS = RetrainingTriggerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, health: types.BaseChannel, job: str, code: str):
        super().__init__(spec=RetrainingTriggerSpec(
            health=health, job=job, code=code,
            request=types.Channel(type=RetrainingRequest)))
