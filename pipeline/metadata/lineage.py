"""Reading lineage from ML Metadata: runs, a model's upstream graph, differences between runs.

Everything here only reads the store. Runs are numbered 1, 2, ... in the order they
started (numbers a person can type); models are found by pushed version, artifact id or
"latest" (the model pushed last, i.e. the one serving).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import artifact_utils

from evaluation.results import metrics_by_slice, task_of_metrics
from pipeline.components.anomaly_gate import anomaly_lines
from pipeline.kinds import Node
from pipeline.metadata.run_record import RunRecord, run_record_of
from pipeline.metadata.store import (
    MetadataStoreError,
    component_of,
    custom_properties,
    custom_property,
    open_store,
    outputs_by_type,
    outputs_of,
    run_executions,
)
from pipeline.orchestration.layout import LocalLayout
from pipeline.settings import PipelineConfig


class LineageError(Exception):
    """A lookup a user asked for cannot be answered (unknown id, empty store, ...)."""


# ---------------------------------------------------------------------- the store
def connect(config: PipelineConfig) -> tuple[metadata_store.MetadataStore, str]:
    """A read-only store named by `metadata_connection` (or the local SQLite file), and a
    description of it for messages."""
    target = config.metadata_connection
    if not target:
        path = LocalLayout.for_config(config).metadata_path
        if not path.exists():
            raise LineageError(f"No metadata store at {path}: run local_runner.py first, or "
                               "point --output_root or --metadata_connection at one.")
        return open_store(path), str(path)
    if target == "vertex":
        raise LineageError("Vertex AI's metadata service is read by `show` only; the other "
                           "commands need an ML Metadata store.")
    try:
        return open_store(target), target
    except MetadataStoreError as error:
        raise LineageError(str(error)) from None


# ---------------------------------------------------------------------- runs
@dataclasses.dataclass
class Run:
    number: int
    context: metadata_store_pb2.Context
    record: RunRecord | None

    @property
    def started(self) -> str:
        return local_time(self.context.create_time_since_epoch)


def local_time(milliseconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def pipeline_runs(store: metadata_store.MetadataStore, pipeline_name: str,
                  where: str) -> list[Run]:
    """Every run of `pipeline_name`, oldest first; a clear error for an empty or foreign store."""
    pipeline_context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_context is None:
        others = sorted(context.name for context in store.get_contexts_by_type("pipeline"))
        if not others:
            raise LineageError(f"The metadata store {where} holds no runs yet.")
        raise LineageError(f"The metadata store {where} holds pipeline(s) "
                           f"{', '.join(others)}, not {pipeline_name!r}: pass "
                           f"--pipeline_name={others[0]}.")
    contexts = sorted((context for context in
                       store.get_children_contexts_by_context(pipeline_context.id)
                       if context.type == "pipeline_run"),
                      key=lambda context: (context.create_time_since_epoch, context.id))
    return [Run(number, context, run_record_of(context))
            for number, context in enumerate(contexts, start=1)]


def find_run(runs: list[Run], reference: str) -> Run:
    """A run by number, "latest" or "previous"."""
    if not runs:
        raise LineageError("No runs recorded yet.")
    if reference in ("latest", "previous"):
        index = -1 if reference == "latest" else -2
        if len(runs) < -index:
            raise LineageError(f"There is no {reference} run: only {len(runs)} recorded.")
        return runs[index]
    if reference.isdigit() and 1 <= int(reference) <= len(runs):
        return runs[int(reference) - 1]
    raise LineageError(f"Unknown run {reference!r}: runs are numbered 1 to {len(runs)} "
                       "(or say latest / previous).")


def run_outputs(store: metadata_store.MetadataStore, run: Run
                ) -> dict[str, metadata_store_pb2.Artifact]:
    """The artifacts each component of `run` produced or reused, by artifact type."""
    return outputs_by_type(run_executions(store, run.context.id))


def run_status(store: metadata_store.MetadataStore, run: Run) -> str:
    if run.record is not None:
        return run.record.status
    states = {execution.last_known_state
              for execution in store.get_executions_by_context(run.context.id)}
    if metadata_store_pb2.Execution.FAILED in states:
        return "failed"
    return "running" if metadata_store_pb2.Execution.RUNNING in states else "succeeded"


def overall_metrics(evaluation: metadata_store_pb2.Artifact | None) -> dict[str, float]:
    if evaluation is None:
        return {}
    overall = metrics_by_slice(evaluation.uri).get("Overall", {})
    return {name: overall[name] for name in task_of_metrics(overall).summary_metrics
            if name in overall}


def run_rows(store: metadata_store.MetadataStore, runs: list[Run]) -> list[dict[str, Any]]:
    """One row per run: what `lineage.py runs` prints."""
    rows = []
    for run in runs:
        outputs = run_outputs(store, run)
        config = run.record.config if run.record else {}
        blessing = outputs.get("ModelBlessing")
        pushed = outputs.get("PushedModel")
        metrics = overall_metrics(outputs.get("ModelEvaluation"))
        ranking = task_of_metrics(metrics).ranking_metric if metrics else None
        rows.append({
            "run": run.number,
            "run_id": run.context.name,
            "started": run.started,
            "variant": config.get("variant", "?"),
            "architecture": config.get("architecture", "?"),
            # Who ran it, from which commit: a shared store holds a whole team's runs.
            "user": run.record.user if run.record else "?",
            "commit": run.record.git_commit[:12] if run.record else "?",
            "status": run_status(store, run),
            # The task's ranking metric (auc, accuracy, r2), under its own name.
            "metric": ranking,
            **({ranking: metrics.get(ranking)} if ranking else {}),
            "examples": metrics.get("example_count"),
            "blessed": None if blessing is None else bool(custom_property(blessing, "blessed")),
            "pushed": (custom_property(pushed, "pushed_version")
                       if pushed is not None and custom_property(pushed, "pushed") else None),
        })
    return rows


# ---------------------------------------------------------------------- models
def find_model(store: metadata_store.MetadataStore, runs: list[Run], reference: str
               ) -> tuple[metadata_store_pb2.Artifact, metadata_store_pb2.Artifact | None]:
    """(Model, PushedModel or None) for a pushed version, an artifact id or "latest"."""
    pushed_models = [artifact for artifact in store.get_artifacts_by_type("PushedModel")
                     if custom_property(artifact, "pushed")]
    if reference == "latest":
        if not pushed_models:
            raise LineageError("No model has been pushed yet; name one by artifact id "
                               "(see `lineage.py runs`).")
        pushed = max(pushed_models, key=lambda a: (a.create_time_since_epoch, a.id))
        return _model_pushed_as(store, pushed), pushed
    for pushed in pushed_models:
        if str(custom_property(pushed, "pushed_version")) == reference:
            return _model_pushed_as(store, pushed), pushed
    if reference.isdigit():
        [artifact] = store.get_artifacts_by_id([int(reference)]) or [None]
        if artifact is not None and artifact.type == "Model":
            return artifact, _pushed_copy_of(store, artifact.id)
        if artifact is not None and artifact.type == "PushedModel":
            return _model_pushed_as(store, artifact), artifact
    versions = ", ".join(str(custom_property(p, "pushed_version")) for p in pushed_models)
    raise LineageError(f"Unknown model {reference!r}: give a pushed version "
                       f"({versions or 'none pushed yet'}), a Model artifact id, or latest.")


def _model_pushed_as(store: metadata_store.MetadataStore,
                     pushed: metadata_store_pb2.Artifact) -> metadata_store_pb2.Artifact:
    [producer] = [event.execution_id for event in
                  store.get_events_by_artifact_ids([pushed.id])
                  if event.type == metadata_store_pb2.Event.OUTPUT][:1]
    inputs = [event.artifact_id for event in store.get_events_by_execution_ids([producer])
              if event.type == metadata_store_pb2.Event.INPUT]
    [model] = [a for a in store.get_artifacts_by_id(inputs) if a.type == "Model"]
    return model


def _pushed_copy_of(store: metadata_store.MetadataStore, model_id: int
                    ) -> metadata_store_pb2.Artifact | None:
    consumers = [event.execution_id for event in store.get_events_by_artifact_ids([model_id])
                 if event.type == metadata_store_pb2.Event.INPUT]
    pushed = [artifact for execution_id in consumers
              for artifact in outputs_of(store, execution_id)
              if artifact.type == "PushedModel" and custom_property(artifact, "pushed")]
    return max(pushed, key=lambda a: a.id, default=None)


def upstream(store: metadata_store.MetadataStore, artifact_id: int
             ) -> metadata_store_pb2.LineageGraph:
    """Every artifact and execution upstream of `artifact_id`, with the events joining them."""
    options = metadata_store_pb2.LineageSubgraphQueryOptions(
        starting_artifacts=metadata_store_pb2.LineageSubgraphQueryOptions.StartingNodes(
            filter_query=f"id = {artifact_id}"),
        max_num_hops=64,
        direction=metadata_store_pb2.LineageSubgraphQueryOptions.UPSTREAM,
    )
    return store.get_lineage_subgraph(options)


def run_of_execution(runs: list[Run], store: metadata_store.MetadataStore,
                     execution_id: int) -> Run | None:
    contexts = {context.id for context in store.get_contexts_by_execution(execution_id)}
    return next((run for run in runs if run.context.id in contexts), None)


def _execution_settings(execution: metadata_store_pb2.Execution, component: str
                        ) -> dict[str, Any]:
    """What a person wants to see of a step: the Trainer's hyperparameters; else nothing."""
    if component != Node.TRAINER or "custom_config" not in execution.custom_properties:
        return {}
    custom_config = json.loads(execution.custom_properties["custom_config"].string_value
                               or "{}")
    return custom_config.get("training_settings", {})


def model_report(store: metadata_store.MetadataStore, runs: list[Run], reference: str
                 ) -> dict[str, Any]:
    """The whole story of one model: its upstream chain, anomalies, evaluation, blessing,
    push and the run record of the run that trained it."""
    model, pushed = find_model(store, runs, reference)
    start = pushed if pushed is not None else model
    graph = upstream(store, start.id)
    artifacts = {artifact.id: artifact for artifact in graph.artifacts}
    producers: dict[int, int] = {}
    inputs: dict[int, list[int]] = {}
    baselines: list[int] = []
    for event in graph.events:
        if event.type == metadata_store_pb2.Event.OUTPUT:
            # A cached step in a later run re-registers the same output; the first
            # execution is the one that computed it.
            producers[event.artifact_id] = min(event.execution_id,
                                               producers.get(event.artifact_id, event.execution_id))
        elif event.type == metadata_store_pb2.Event.INPUT:
            if _event_key(event) == "baseline_model":
                baselines.append(event.artifact_id)  # the model compared against, not a source
            else:
                inputs.setdefault(event.execution_id, []).append(event.artifact_id)
    # Walk back from the start along the inputs kept above, so the baseline's own history
    # (which the subgraph also holds) stays out of this model's chain.
    wanted: set[int] = set()
    frontier = [start.id]
    while frontier:
        producer = producers.get(frontier.pop())
        if producer is not None and producer not in wanted:
            wanted.add(producer)
            frontier += inputs.get(producer, [])
    executions = {execution.id: execution for execution in graph.executions
                  if execution.id in wanted}
    chain = []
    for execution_id in sorted(executions, reverse=True):
        execution = executions[execution_id]
        component = component_of(store, execution_id) or "?"
        run = run_of_execution(runs, store, execution_id)
        chain.append({
            "component": component,
            "execution": execution_id,
            "run": run.number if run else None,
            "inputs": [_artifact_summary(artifacts[i]) for i in sorted(inputs.get(
                execution_id, [])) if i in artifacts],
            "outputs": [_artifact_summary(artifacts[a]) for a, e in sorted(producers.items())
                        if e == execution_id],
            "settings": _execution_settings(execution, component),
        })
    trainer = next((step for step in chain if step["component"] == Node.TRAINER), None)
    training_run = next((run for run in runs if trainer and run.number == trainer["run"]), None)
    evaluation, blessing, sandbox = evaluation_of(store, model.id)
    # ExampleValidator gates Transform by order, not through an artifact, so its anomalies
    # are found in the run that trained the model rather than upstream of it.
    checks = run_outputs(store, training_run) if training_run else {}
    anomalies, statistics = checks.get("ExampleAnomalies"), checks.get("ExampleStatistics")
    data = training_run.record.data if training_run and training_run.record else None
    return {
        "model": _artifact_summary(model),
        "pushed": (None if pushed is None else {
            **_artifact_summary(pushed),
            "version": custom_property(pushed, "pushed_version"),
            "destination": custom_property(pushed, "pushed_destination"),
        }),
        "trained_in_run": trainer["run"] if trainer else None,
        "baseline": [_artifact_summary(artifacts[i]) for i in sorted(set(baselines))],
        "chain": chain,
        "data": data,
        "statistics": None if statistics is None else _artifact_summary(statistics),
        "anomalies": None if anomalies is None else anomaly_list(store, anomalies),
        "evaluation": None if evaluation is None else metrics_by_slice(evaluation.uri),
        "blessed": None if blessing is None else bool(custom_property(blessing, "blessed")),
        "sandbox": None if sandbox is None else custom_properties(sandbox),
        "run_record": (dataclasses.asdict(training_run.record)
                       if training_run and training_run.record else None),
    }


def _event_key(event: metadata_store_pb2.Event) -> str:
    return next((step.key for step in event.path.steps if step.HasField("key")), "")


def _artifact_summary(artifact: metadata_store_pb2.Artifact) -> dict[str, Any]:
    return {"id": artifact.id, "type": artifact.type, "uri": artifact.uri}


def evaluation_of(store: metadata_store.MetadataStore, model_id: int
                   ) -> tuple[metadata_store_pb2.Artifact | None,
                              metadata_store_pb2.Artifact | None,
                              metadata_store_pb2.Artifact | None]:
    """The latest evaluation, blessing and serving-sandbox verdict (InfraBlessing) of
    `model_id` as the candidate of a training run (continuous evaluation's judgements on
    fresh rows are not its blessing)."""
    evaluation = blessing = sandbox = None
    for event in sorted(store.get_events_by_artifact_ids([model_id]),
                        key=lambda e: e.execution_id):
        if event.type != metadata_store_pb2.Event.INPUT:
            continue
        if _event_key(event) != "model":
            continue  # the model was the baseline here, not the candidate
        if component_of(store, event.execution_id) == Node.FRESH_EVALUATOR:
            continue
        for artifact in outputs_of(store, event.execution_id):
            if artifact.type == "ModelEvaluation":
                evaluation = artifact
            elif artifact.type == "ModelBlessing":
                blessing = artifact
            elif artifact.type == "InfraBlessing":
                sandbox = artifact
    return evaluation, blessing, sandbox


def anomaly_list(store: metadata_store.MetadataStore,
                 anomalies: metadata_store_pb2.Artifact) -> list[str]:
    """ExampleValidator's findings as lines; an empty list when the data was clean."""
    [artifact_type] = store.get_artifact_types_by_id([anomalies.type_id])
    return anomaly_lines(artifact_utils.deserialize_artifact(artifact_type, anomalies))


# ---------------------------------------------------------------------- diff
def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flat(f"{prefix}.{key}" if prefix else key, inner))
        return flat
    return {prefix: value}


def diff_runs(store: metadata_store.MetadataStore, first: Run, second: Run) -> dict[str, Any]:
    """What differs between two runs: configuration, code, data, libraries and metrics."""
    if first.record is None or second.record is None:
        missing = first if first.record is None else second
        raise LineageError(f"Run {missing.number} has no run record (it failed before its "
                           "first component, or was made by an older version).")

    def sections(run: Run) -> dict[str, dict[str, Any]]:
        record = run.record
        assert record is not None
        return {
            "configuration": _flat("", record.config),
            "code": {"git_commit": record.git_commit, "git_dirty": record.git_dirty,
                     "git_diff_sha256": record.git_diff_sha256},
            "data": _flat("", record.data),
            "libraries": {"python": record.python_version, "lock_sha256": record.lock_sha256,
                          **record.libraries},
            "metrics": overall_metrics(run_outputs(store, run).get("ModelEvaluation")),
        }

    before, after = sections(first), sections(second)
    differences: dict[str, Any] = {"runs": [first.number, second.number]}
    for section in before:
        keys = sorted(before[section].keys() | after[section].keys())
        changed = {key: [before[section].get(key), after[section].get(key)] for key in keys
                   if before[section].get(key) != after[section].get(key)}
        differences[section] = changed
    return differences


# ---------------------------------------------------------------------- the graph
def lineage_dot(report: dict[str, Any]) -> str:
    """The upstream graph of a model report in Graphviz DOT: artifacts as ellipses,
    component executions as boxes, edges in the direction data flowed."""
    lines = ["digraph lineage {", '  rankdir="TB";',
             '  node [fontname="Helvetica", fontsize=10];']
    seen: set[int] = set()
    for step in report["chain"]:
        execution = f"e{step['execution']}"
        label = f"{step['component']}\\nexecution {step['execution']}"
        if step["run"]:
            label += f", run {step['run']}"
        lines.append(f'  {execution} [shape=box, style="rounded,filled", '
                     f'fillcolor="#dbe8f6", label="{label}"];')
        for artifact in step["inputs"] + step["outputs"]:
            if artifact["id"] not in seen:
                seen.add(artifact["id"])
                lines.append(f'  a{artifact["id"]} [shape=ellipse, '
                             f'label="{artifact["type"]} {artifact["id"]}"];')
        lines += [f"  a{artifact['id']} -> {execution};" for artifact in step["inputs"]]
        lines += [f"  {execution} -> a{artifact['id']};" for artifact in step["outputs"]]
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- predictions
def producer_of(store: metadata_store.MetadataStore, artifact_id: int) -> int | None:
    return next((event.execution_id for event in store.get_events_by_artifact_ids([artifact_id])
                 if event.type == metadata_store_pb2.Event.OUTPUT), None)


def inputs_of(store: metadata_store.MetadataStore, execution_id: int
               ) -> list[metadata_store_pb2.Artifact]:
    ids = [event.artifact_id for event in store.get_events_by_execution_ids([execution_id])
           if event.type == metadata_store_pb2.Event.INPUT]
    return store.get_artifacts_by_id(ids) if ids else []


def find_predictions(store: metadata_store.MetadataStore, reference: str
                     ) -> metadata_store_pb2.Artifact:
    """A Predictions artifact (batch_predict.py) by its file, its directory, its artifact
    id, or "latest"."""
    candidates = store.get_artifacts_by_type("pipeline.Predictions")
    if not candidates:
        raise LineageError("No batch predictions are recorded in this store yet.")
    if reference == "latest":
        return max(candidates, key=lambda artifact: artifact.id)
    if reference.isdigit():
        match = [artifact for artifact in candidates if artifact.id == int(reference)]
    else:
        path = os.path.abspath(reference)
        match = [artifact for artifact in candidates
                 if path in (os.path.abspath(artifact.uri),
                             os.path.join(os.path.abspath(artifact.uri), "predictions.jsonl"))]
    if not match:
        raise LineageError(f"{reference!r} is no batch prediction recorded in this store; "
                           "give the predictions file, its artifact id, or latest.")
    return match[0]


def predictions_report(store: metadata_store.MetadataStore, training_runs: list[Run],
                       reference: str) -> dict[str, Any]:
    """A prediction file back to what made it: the scoring run and its record (the table
    scored, its SHA-256, code and libraries), the examples and the model that scored them,
    and that model's own lineage (`model_report`)."""
    predictions = find_predictions(store, reference)
    writer = producer_of(store, predictions.id)
    inputs = inputs_of(store, writer)
    [model] = [a for a in inputs if a.type == "Model"]
    [examples] = [a for a in inputs if a.type == "Examples"]
    run_context = next((context for context in store.get_contexts_by_execution(writer)
                        if context.type == "pipeline_run"), None)
    record = run_record_of(run_context) if run_context else None
    return {
        "predictions": {**_artifact_summary(predictions),
                        "rows": custom_property(predictions, "rows"),
                        "bigquery_table": custom_property(predictions, "bigquery_table"),
                        "written": local_time(predictions.create_time_since_epoch)},
        "scoring_run": run_context.name if run_context else None,
        "scored_examples": _artifact_summary(examples),
        "scored_data": record.data if record else None,
        "scoring_record": dataclasses.asdict(record) if record else None,
        "model": model_report(store, training_runs, str(model.id)),
    }
