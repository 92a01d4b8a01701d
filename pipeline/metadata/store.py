"""ML Metadata access shared by every reader: opening a store, and walking a run's
executions to the artifacts they produced.

The run summary, train-all's comparison, lineage and the benchmarks all read the store
through here, so there is one way to open it and one walk from executions to outputs.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.serving.figures import SandboxFigures

MYSQL_PASSWORD_VARIABLE = "MLMD_MYSQL_PASSWORD"
STATES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}


class MetadataStoreError(Exception):
    """A store cannot be opened: an unknown connection form, or nothing answers there."""


def connection_config(target: str | Path, read_only: bool = True) -> Any:
    """The ML Metadata connection of `target`: a local SQLite file (a path; read-only
    unless asked, so readers never write), grpc://HOST:PORT (a client config), or
    mysql://USER@HOST:PORT/DATABASE with the password in the MLMD_MYSQL_PASSWORD
    environment variable (never in configuration)."""
    target = str(target)
    scheme, separator, rest = target.partition("://")
    if not separator:
        connection = metadata_store_pb2.ConnectionConfig()
        connection.sqlite.filename_uri = target
        connection.sqlite.connection_mode = (
            metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if read_only
            else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
        return connection
    if scheme == "grpc":
        host, _, port = rest.rpartition(":")
        return metadata_store_pb2.MetadataStoreClientConfig(host=host, port=int(port))
    if scheme == "mysql":
        user, _, address = rest.partition("@")
        host_port, _, database = address.partition("/")
        host, _, port = host_port.rpartition(":")
        if not (user and host and port.isdigit() and database):
            raise MetadataStoreError(f"metadata_connection={target!r}: use "
                                     "mysql://USER@HOST:PORT/DATABASE")
        connection = metadata_store_pb2.ConnectionConfig()
        connection.mysql.host = host
        connection.mysql.port = int(port)
        connection.mysql.database = database
        connection.mysql.user = user
        connection.mysql.password = os.environ.get(MYSQL_PASSWORD_VARIABLE, "")
        return connection
    raise MetadataStoreError(f"metadata_connection={target!r}: use grpc://HOST:PORT, "
                             "mysql://USER@HOST:PORT/DATABASE or vertex.")


def open_store(target: str | Path, read_only: bool = True) -> metadata_store.MetadataStore:
    """The store at `target` (see `connection_config`)."""
    settings = connection_config(target, read_only)
    if isinstance(settings, metadata_store_pb2.ConnectionConfig) and \
            settings.HasField("sqlite"):
        return metadata_store.MetadataStore(settings)
    try:
        store = metadata_store.MetadataStore(settings)
        store.get_context_types()  # a gRPC client connects lazily: fail here, not mid-report
    except Exception as error:  # noqa: BLE001 - any connection failure, said in one line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MetadataStoreError(f"Cannot reach the metadata store at {target}: {reason}"
                                 ) from None
    return store


def custom_property(artifact: metadata_store_pb2.Artifact, key: str) -> Any:
    """The value of an ML Metadata custom property, whatever its type; None when unset."""
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    return getattr(value, value.WhichOneof("value"))


def custom_properties(artifact: metadata_store_pb2.Artifact) -> dict[str, Any]:
    """Every custom property of an artifact, by name."""
    return {key: custom_property(artifact, key) for key in sorted(artifact.custom_properties)}


def describe_sandbox(figures: dict[str, Any] | None) -> str:
    """One line on a ServingSandbox's InfraBlessing properties
    (pipeline/serving/sandbox.py), for the run summary, lineage and report."""
    if not figures:
        return "not run"
    verdict = "passed" if figures.get("blessed") else f"blocked the push: {figures.get('reason')}"
    measured = SandboxFigures.from_properties(figures)
    return verdict if measured is None else f"{verdict}; {measured.describe()}"


def latest_run_context(store: metadata_store.MetadataStore, pipeline_name: str
                       ) -> metadata_store_pb2.Context | None:
    """The `pipeline_run` context of `pipeline_name`'s newest run; None before any run."""
    pipeline_context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_context is None:
        return None
    runs = [context for context in store.get_children_contexts_by_context(pipeline_context.id)
            if context.type == "pipeline_run"]
    return max(runs, key=lambda context: (context.create_time_since_epoch, context.id),
               default=None)


def outputs_of(store: metadata_store.MetadataStore, execution_id: int
               ) -> list[metadata_store_pb2.Artifact]:
    """The artifacts `execution_id` produced (or, cached, re-registered)."""
    events = store.get_events_by_execution_ids([execution_id])
    ids = [event.artifact_id for event in events
           if event.type == metadata_store_pb2.Event.OUTPUT]
    return store.get_artifacts_by_id(ids) if ids else []


def component_of(store: metadata_store.MetadataStore, execution_id: int) -> str | None:
    """The pipeline node (component id) an execution belongs to; None for none."""
    nodes = [context.name for context in store.get_contexts_by_execution(execution_id)
             if context.type == "node"]
    return nodes[0].split(".", 1)[1] if nodes else None


@dataclasses.dataclass
class ExecutionOutputs:
    """One execution of a run: its component, state, duration and output artifacts."""

    execution: metadata_store_pb2.Execution
    component: str  # the node id, or the execution type when it has no node
    state: str  # ran | cached | failed | running | new | canceled | unknown
    outputs: list[metadata_store_pb2.Artifact]

    @property
    def seconds(self) -> float:
        return (self.execution.last_update_time_since_epoch
                - self.execution.create_time_since_epoch) / 1000

    def output(self, artifact_type: str) -> metadata_store_pb2.Artifact | None:
        """Its (last) output of `artifact_type`, e.g. "Model"; None when there is none."""
        found = [artifact for artifact in self.outputs if artifact.type == artifact_type]
        return found[-1] if found else None


def run_executions(store: metadata_store.MetadataStore, run_context_id: int
                   ) -> list[ExecutionOutputs]:
    """Every execution of a run, in the order they started, with its outputs."""
    executions = sorted(store.get_executions_by_context(run_context_id), key=lambda e: e.id)
    return [ExecutionOutputs(execution, component_of(store, execution.id) or execution.type,
                             STATES.get(execution.last_known_state, "unknown"),
                             outputs_of(store, execution.id))
            for execution in executions]


def outputs_by_type(executions: list[ExecutionOutputs]) -> dict[str, metadata_store_pb2.Artifact]:
    """The last output of each artifact type across `executions`."""
    found: dict[str, metadata_store_pb2.Artifact] = {}
    for step in executions:
        for artifact in step.outputs:
            found[artifact.type] = artifact
    return found
