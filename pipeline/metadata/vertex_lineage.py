"""`lineage.py show` for runs on Vertex AI Pipelines, whose metadata lives in Vertex AI's own
metadata service (the open-source ml-metadata library cannot read it).

Reads through `google-cloud-aiplatform`'s MetadataService: the pushed model artifact, then
its upstream lineage subgraph, rendered as the same report the local store gives.
"""

from __future__ import annotations

from typing import Any

from pipeline.metadata.lineage import LineageError
from pipeline.settings import PipelineConfig

PUSHED_MODEL_SCHEMA = "tfx.PushedModel"


def metadata_store_name(config: PipelineConfig) -> str:
    return f"projects/{config.gcp_project}/locations/{config.gcp_region}/metadataStores/default"


def metadata_client(config: PipelineConfig) -> Any:
    """The MetadataService client for the configured region (Application Default Credentials)."""
    from google.cloud import aiplatform_v1

    return aiplatform_v1.MetadataServiceClient(
        client_options={"api_endpoint": f"{config.gcp_region}-aiplatform.googleapis.com"})


def find_pushed_model(config: PipelineConfig, client: Any, reference: str) -> Any:
    """A PushedModel artifact: "latest", an artifact id, or a full resource name."""
    store = metadata_store_name(config)
    if reference == "latest":
        pushed = client.list_artifacts(request={
            "parent": store, "filter": f'schema_title="{PUSHED_MODEL_SCHEMA}"',
            "order_by": "create_time desc"})
        latest = next(iter(pushed), None)
        if latest is None:
            raise LineageError(f"No pushed model in {store} yet.")
        return latest
    name = reference if reference.startswith("projects/") else f"{store}/artifacts/{reference}"
    return client.get_artifact(name=name)


def vertex_model_report(config: PipelineConfig, reference: str, client: Any = None
                        ) -> dict[str, Any]:
    """The upstream chain of a pushed model on Vertex AI, newest step first."""
    from google.cloud import aiplatform_v1

    if not config.gcp_project:
        raise LineageError("gcp_project is not set: pass --gcp_project= to read Vertex AI's "
                           "metadata.")
    client = client or metadata_client(config)
    pushed = find_pushed_model(config, client, reference)
    graph = client.query_artifact_lineage_subgraph(
        request={"artifact": pushed.name, "max_hops": 50})
    artifacts = {artifact.name: artifact for artifact in graph.artifacts}
    executions = {execution.name: execution for execution in graph.executions}
    producers: dict[str, str] = {}
    inputs: dict[str, list[str]] = {}
    for event in graph.events:
        if event.type_ == aiplatform_v1.Event.Type.OUTPUT:
            producers.setdefault(event.artifact, event.execution)
        elif event.type_ == aiplatform_v1.Event.Type.INPUT:
            inputs.setdefault(event.execution, []).append(event.artifact)
    # The candidate is the Model the Pusher took; any other Model an Evaluator read is the
    # baseline it was compared with, whose own history is not this model's.
    pusher = producers.get(pushed.name)
    candidates = [name for name in inputs.get(pusher, [])
                  if artifacts[name].schema_title == "tfx.Model"]
    wanted: list[str] = []
    frontier = [pushed.name]
    while frontier:
        producer = producers.get(frontier.pop())
        if producer is None or producer in wanted:
            continue
        wanted.append(producer)
        frontier += [name for name in inputs.get(producer, [])
                     if artifacts[name].schema_title != "tfx.Model" or name in candidates]
    chain = []
    for name in sorted(wanted, key=lambda n: executions[n].create_time, reverse=True):
        execution = executions[name]
        chain.append({
            "component": execution.display_name,
            "execution": name.rsplit("/", 1)[-1],
            "state": execution.state.name,
            "inputs": [_summary(artifacts[a]) for a in inputs.get(name, []) if a in artifacts],
            "outputs": [_summary(artifacts[a]) for a, e in producers.items() if e == name],
        })
    return {"pushed": _summary(pushed), "model": [_summary(artifacts[c]) for c in candidates],
            "chain": chain}


def _summary(artifact: Any) -> dict[str, Any]:
    return {"id": artifact.name.rsplit("/", 1)[-1], "name": artifact.name,
            "type": artifact.schema_title.removeprefix("tfx."), "uri": artifact.uri}


def render_vertex_report(report: dict[str, Any]) -> str:
    pushed = report["pushed"]
    lines = [f"Pushed model {pushed['id']}  {pushed['uri']}", "",
             "Upstream, newest first (artifact ids in brackets):"]
    for step in report["chain"]:
        outputs = ", ".join(f"{a['type']} [{a['id']}]" for a in step["outputs"]) or "-"
        inputs = ", ".join(f"{a['type']} [{a['id']}]" for a in step["inputs"]) or "-"
        lines.append(f"  {outputs}  <-  {step['component']} ({step['state'].lower()}, "
                     f"execution {step['execution']})  <-  {inputs}")
    return "\n".join(lines)
