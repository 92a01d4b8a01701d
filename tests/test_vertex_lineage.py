"""`lineage.py show` against Vertex AI's metadata service, up to the API boundary: a client
that answers with the protos the real MetadataService returns for a TFX run, and the
connection errors for stores that cannot be reached."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from google.cloud import aiplatform_v1

import lineage as lineage_cli
from pipeline.metadata.lineage import LineageError
from pipeline.metadata.vertex_lineage import metadata_store_name, vertex_model_report
from tests.configs import taxi_config

CONFIG = taxi_config(gcp_project="tipper-project", gcp_region="europe-west4",
                     metadata_connection="vertex")
STORE = metadata_store_name(CONFIG)

# (execution, component, inputs, outputs), oldest first; run 2 compared its model with
# run 1's blessed model (artifact m1), whose history must stay out of the report.
STEPS = [
    ("e1", "Trainer", ["x1"], ["m1"]),
    ("e2", "ExampleGen", [], ["x2"]),
    ("e3", "Transform", ["x2"], ["t2"]),
    ("e4", "Trainer", ["t2"], ["m2"]),
    ("e5", "Evaluator", ["x2", "m2", "m1"], ["b2"]),
    ("e6", "Pusher", ["m2", "b2"], ["p2"]),
]
TYPES = {"x": "tfx.Examples", "t": "tfx.TransformGraph", "m": "tfx.Model",
         "b": "tfx.ModelBlessing", "p": "tfx.PushedModel"}


def artifact(short: str) -> aiplatform_v1.Artifact:
    return aiplatform_v1.Artifact(name=f"{STORE}/artifacts/{short}", schema_title=TYPES[short[0]],
                                  uri=f"gs://tipper-bucket/tfx/{short}")


class RecordingMetadataService:
    """Stands in for aiplatform_v1.MetadataServiceClient and records each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []

    def list_artifacts(self, request: dict) -> list[aiplatform_v1.Artifact]:
        self.requests.append(("list_artifacts", request))
        return [artifact("p2")]

    def get_artifact(self, name: str) -> aiplatform_v1.Artifact:
        self.requests.append(("get_artifact", name))
        return artifact(name.rsplit("/", 1)[-1])

    def query_artifact_lineage_subgraph(self, request: dict) -> aiplatform_v1.LineageSubgraph:
        self.requests.append(("query_artifact_lineage_subgraph", request))
        names = {name for _, _, ins, outs in STEPS for name in ins + outs}
        events = []
        for execution, _, ins, outs in STEPS:
            for name, kind in [(a, aiplatform_v1.Event.Type.INPUT) for a in ins] + \
                    [(a, aiplatform_v1.Event.Type.OUTPUT) for a in outs]:
                events.append(aiplatform_v1.Event(
                    artifact=f"{STORE}/artifacts/{name}",
                    execution=f"{STORE}/executions/{execution}", type_=kind))
        executions = [aiplatform_v1.Execution(
            name=f"{STORE}/executions/{execution}", display_name=component,
            state=aiplatform_v1.Execution.State.COMPLETE,
            create_time={"seconds": 1_700_000_000 + index})
            for index, (execution, component, _, _) in enumerate(STEPS)]
        return aiplatform_v1.LineageSubgraph(
            artifacts=[artifact(name) for name in sorted(names)], executions=executions,
            events=events)


def test_latest_pushed_model_and_its_chain_without_the_baselines_history() -> None:
    client = RecordingMetadataService()
    report = vertex_model_report(CONFIG, "latest", client)
    assert client.requests[0] == ("list_artifacts", {
        "parent": "projects/tipper-project/locations/europe-west4/metadataStores/default",
        "filter": 'schema_title="tfx.PushedModel"', "order_by": "create_time desc"})
    assert client.requests[1] == ("query_artifact_lineage_subgraph", {
        "artifact": f"{STORE}/artifacts/p2", "max_hops": 50})
    assert report["pushed"]["uri"] == "gs://tipper-bucket/tfx/p2"
    assert [m["id"] for m in report["model"]] == ["m2"]
    assert [(step["component"], step["execution"]) for step in report["chain"]] == [
        ("Pusher", "e6"), ("Evaluator", "e5"), ("Trainer", "e4"), ("Transform", "e3"),
        ("ExampleGen", "e2")]
    evaluator = report["chain"][1]
    assert {a["id"] for a in evaluator["inputs"]} == {"x2", "m2", "m1"}


def test_show_by_artifact_id_through_the_command_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    client = RecordingMetadataService()
    monkeypatch.setattr("pipeline.metadata.vertex_lineage.metadata_client", lambda config: client)
    code = lineage_cli.main(["show", "p2", "--metadata_connection=vertex",
                             "--gcp_project=tipper-project", "--gcp_region=europe-west4"])
    out = capsys.readouterr().out
    assert code == 0
    assert client.requests[0] == ("get_artifact", f"{STORE}/artifacts/p2")
    assert "Pushed model p2  gs://tipper-bucket/tfx/p2" in out
    assert "Model [m2]  <-  Trainer (complete, execution e4)  <-  TransformGraph [t2]" in out


def test_vertex_needs_a_project_and_serves_show_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LineageError, match="gcp_project is not set"):
        vertex_model_report(taxi_config(metadata_connection="vertex"), "latest",
                            RecordingMetadataService())
    assert lineage_cli.main(["runs", "--metadata_connection=vertex"]) == 1
    assert "read by `show` only" in capsys.readouterr().err


def test_unreachable_stores_give_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for target in (f"grpc://127.0.0.1:{port}", f"mysql://mlmd@127.0.0.1:{port}/metadata",
                   "postgres://x"):
        assert lineage_cli.main(["runs", f"--metadata_connection={target}"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert ("Cannot reach the metadata store" in err) != target.startswith("postgres")
