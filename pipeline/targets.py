"""Where a pipeline runs: a `Target` carries everything `create_pipeline` needs that
depends on the place, so the definition itself names no place.

- `local_target`: LocalDagRunner on this machine, a SQLite ML Metadata store, Beam's
  direct runner, and a push staged and renamed into a local serving directory.
- `vertex_target`: compiled for Vertex AI Pipelines: Vertex AI Training (and Tuner)
  jobs, TFX's own resolver strategies (the only ones KubeflowV2DagRunner compiles), Beam
  on Dataflow or in the step, and a push to gs:// or to an endpoint. The dry run
  (`vertex_runner.py dry-run`) executes the JSON compiled for this target.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from ml_metadata.proto import metadata_store_pb2
from tfx.components import Trainer, Tuner
from tfx.dsl.components.base.base_node import BaseNode
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.proto import pusher_pb2

from pipeline.components.atomic_pusher import AtomicPusher, ObjectStorePusher


class LatestOrNothingStrategy(LatestArtifactStrategy):
    """The latest artifact, or an empty input when there is none yet.

    TFX's LatestArtifactStrategy reports "no inputs" on a first run, which LocalDagRunner
    records as a failed execution; an empty list is the honest answer, and the input it
    feeds is optional.
    """

    def resolve_artifacts(self, store: Any, input_dict: dict[str, list[Any]]
                          ) -> dict[str, list[Any]]:
        return self._resolve(input_dict)


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a pipeline runs and what that changes in it. Build one with `local_target`
    or `vertex_target`."""

    name: str
    pipeline_root: str
    # Where pushed models go: a local directory, gs://..., or (with `serving_config`) the
    # staging place of an endpoint's upload.
    serving_directory: str = ""
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None
    beam_pipeline_args: tuple[str, ...] = ()
    # The day a moving BigQuery window ends (a run built for one day); None leaves it to
    # the query's run time (a compiled template that serves a schedule).
    window_end: datetime.date | None = None
    # The resolver of "the latest accepted statistics" (optional on a first run).
    latest_strategy: type = LatestOrNothingStrategy
    trainer_class: type = Trainer
    tuner_class: type = Tuner
    # Merged into the Trainer's and Tuner's custom_config (Vertex AI Training jobs).
    trainer_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tuner_config: Mapping[str, Any] | None = None
    # The Vertex AI Pusher's custom_config: deploy to an endpoint; None: push files.
    serving_config: Mapping[str, Any] | None = None
    # The training pipeline's PipelineJob arguments, for continuous evaluation to submit
    # when the model degraded (pipeline/components/retraining.py); None: the runner
    # retrains itself (this machine).
    retraining_job: Mapping[str, Any] | None = None

    @property
    def parallel_trials(self) -> bool:
        """Whether the Tuner runs trials at once (TFX's local Tuner refuses TuneArgs)."""
        return self.tuner_config is not None

    def pusher(self, gates: Mapping[str, Any], code: str) -> BaseNode:
        """The Pusher of `gates` (model, model_blessing, infra_blessing)."""
        if self.serving_config is not None:
            # Imported here: aiplatform, under TFX's Vertex extensions, takes ~9 s to import
            # and only a cloud pipeline needs it.
            from pipeline.components.vertex_pusher import SandboxedVertexPusher

            return SandboxedVertexPusher(**gates, custom_config=dict(self.serving_config))
        # A local push is staged and renamed into place, so it appears whole or not at
        # all; object stores have no atomic rename, and there TFX's own Pusher writes
        # saved_model.pb last, the file model servers wait for.
        local = "://" not in self.serving_directory
        return (AtomicPusher if local else ObjectStorePusher)(
            **gates,
            push_destination=pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(
                    base_directory=self.serving_directory)),
            custom_config={"code": code},
        )


def local_target(pipeline_root: str, serving_directory: str = "",
                 metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
                 beam_pipeline_args: tuple[str, ...] = (),
                 window_end: datetime.date | None = None) -> Target:
    """This machine: LocalDagRunner's components and resolvers."""
    return Target("local", pipeline_root, serving_directory, metadata_connection_config,
                  tuple(beam_pipeline_args), window_end)


def vertex_target(pipeline_root: str, serving_directory: str,
                  beam_pipeline_args: tuple[str, ...],
                  training: Mapping[str, Any], tuning: Mapping[str, Any] | None,
                  serving: Mapping[str, Any] | None,
                  retraining_job: Mapping[str, Any] | None = None) -> Target:
    """Vertex AI Pipelines: `training` and `tuning` are the Vertex AI Trainer's and
    Tuner's custom_config (pipeline/orchestration/vertex.py builds them), `serving` the
    Vertex AI Pusher's (None: files under `serving_directory`), `retraining_job` the
    training pipeline's PipelineJob arguments."""
    # Imported here: aiplatform takes ~9 s to import; only cloud pipelines need it.
    from tfx.extensions.google_cloud_ai_platform.trainer import component as vertex_trainer
    from tfx.extensions.google_cloud_ai_platform.tuner import component as vertex_tuner

    return Target("vertex", pipeline_root, serving_directory, None, tuple(beam_pipeline_args),
                  None, latest_strategy=LatestArtifactStrategy,
                  trainer_class=vertex_trainer.Trainer,
                  tuner_class=vertex_tuner.Tuner if tuning is not None else Tuner,
                  trainer_config=dict(training), tuner_config=tuning, serving_config=serving,
                  retraining_job=retraining_job)
