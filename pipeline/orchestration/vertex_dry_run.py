"""The compiled Vertex AI pipeline JSON, executed on this machine task by task, the way
Vertex AI Pipelines' launcher runs it (`vertex_runner.py dry-run`).

What runs is the compiled spec itself, not `create_pipeline` again:
- tasks in dependency order. Each container task runs its container's own command and
  arguments (`python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor
  --executor_class_path ... --json_serialized_invocation_args {{$}}`), with this
  project's Python in place of the image's;
- `{{$}}` becomes an ExecutorInput built as the launcher builds it. Input artifacts come
  from the producing tasks' outputs, or from a resolver's answer. Parameters are the
  spec's constants, with the types the spec gives them. Output artifacts get URIs under a
  local directory that stands for the gs:// pipeline root. The task's output metadata file
  (ExecutorOutput) is read back afterwards, and its artifact metadata goes downstream;
- resolver tasks are answered from a local record of earlier dry runs (`record.json`),
  through the filter written in the spec (schema title, state, name and
  `metadata.KEY.number_value`). A second dry run finds the first one's blessed model and
  accepted statistics, as Vertex would; a filter clause it cannot read stops the run.
What cannot run here is substituted openly, and each substitution is printed:
- BigQuery: the generated query runs on a BigQuery emulator (`bigquery_endpoint`), and
  its rows become the examples, converted as TFX's BigQueryExampleGen converts them;
- Dataflow: Beam's direct runner (the Dataflow arguments are dropped);
- Vertex AI Training: the same `run_fn` in TFX's local GenericExecutor (the worker-pool
  spec is printed);
- the endpoint deploy: a local push into the dry run's directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline.kinds import Node
from pipeline.orchestration.dry_run_executors import ENDPOINT_VARIABLE, EmulatedBigQueryExecutor
from pipeline.orchestration.vertex import in_dependency_order
from pipeline.settings import REPOSITORY_ROOT, PipelineConfig
from pipeline.settings.values import ConfigError


def class_path(cls: type) -> str:
    """A class's path as a compiled task's --executor_class_path names it."""
    return f"{cls.__module__}.{cls.__qualname__}"


def substitutions() -> dict[str, tuple[str, str]]:
    """Executor path in the compiled JSON -> (the executor that runs here instead, what it
    stands for), from the classes themselves, so a renamed class cannot slip past. Called
    after compiling, when TFX and its Vertex extensions are loaded anyway."""
    from tfx.components.trainer import executor as local_trainer
    from tfx.components.tuner import executor as local_tuner
    from tfx.extensions.google_cloud_ai_platform.pusher import executor as vertex_pusher
    from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_trainer
    from tfx.extensions.google_cloud_ai_platform.tuner import executor as vertex_tuner
    from tfx.extensions.google_cloud_big_query.example_gen import executor as bigquery

    from pipeline.components.atomic_pusher import AtomicPushExecutor
    from pipeline.components.bigquery_example_gen import BigQueryExecutor
    from pipeline.components.vertex_pusher import SandboxedVertexPushExecutor

    emulated, trainer, tuner, push = (class_path(EmulatedBigQueryExecutor),
                                      class_path(local_trainer.GenericExecutor),
                                      class_path(local_tuner.Executor),
                                      class_path(AtomicPushExecutor))
    return {class_path(BigQueryExecutor): (emulated, "bigquery"),
            class_path(bigquery.Executor): (emulated, "bigquery"),
            class_path(vertex_trainer.GenericExecutor): (trainer, "training"),
            class_path(vertex_tuner.Executor): (tuner, "training"),
            class_path(SandboxedVertexPushExecutor): (push, "endpoint"),
            class_path(vertex_pusher.Executor): (push, "endpoint")}

# Beam arguments that only mean something to Dataflow.
DATAFLOW_ARGUMENTS = ("--runner=", "--project=", "--temp_location=", "--region=",
                      "--machine_type=", "--max_num_workers=", "--disk_size_gb=",
                      "--sdk_container_image=", "--experiments=", "--service_account_email=")


class DryRunError(RuntimeError):
    """A task failed; the message names it and the reason."""


@dataclasses.dataclass
class TaskResult:
    name: str
    state: str  # succeeded, resolved, failed
    seconds: float
    note: str = ""


@dataclasses.dataclass
class DryRunResult:
    run_id: str
    directory: Path
    tasks: list[TaskResult]
    substitutions: list[str]
    outputs: dict[str, dict[str, list[dict[str, Any]]]]  # task -> key -> runtime artifacts


def schema_title(artifact_type: Mapping[str, Any]) -> str:
    """The artifact type's title, from `schemaTitle` or the YAML `instanceSchema`."""
    if "schemaTitle" in artifact_type:
        return artifact_type["schemaTitle"]
    return yaml.safe_load(artifact_type.get("instanceSchema", "")).get("title", "tfx.Artifact")


class Record:
    """Artifacts earlier dry runs produced under this directory, for the resolvers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.artifacts: list[dict[str, Any]] = (
            json.loads(path.read_text())["artifacts"] if path.exists() else [])

    def add(self, artifact: dict[str, Any]) -> None:
        self.artifacts.append(artifact)

    def save(self) -> None:
        self.path.write_text(json.dumps({"artifacts": self.artifacts}, indent=1))

    def query(self, task: str, filter_text: str, inputs: Mapping[str, list[dict]]
              ) -> list[dict[str, Any]]:
        """The newest LIVE artifact matching the spec's filter (Vertex's resolver query),
        as a list of none or one."""
        matches = [artifact for artifact in self.artifacts
                   if all(_clause_holds(task, clause, artifact, inputs)
                          for clause in filter_text.split(" AND "))]
        return matches[-1:]


def _clause_holds(task: str, clause: str, artifact: Mapping[str, Any],
                  inputs: Mapping[str, list[dict]]) -> bool:
    key, _, value = clause.strip().partition("=")
    value = value.strip().strip('"')
    if value.startswith("{{$.inputs.artifacts['"):
        # name="{{$.inputs.artifacts['input'].metadata['current_model_id']}}"
        source, _, rest = value[len("{{$.inputs.artifacts['"):].partition("']")
        field = rest.split("['", 1)[1].split("']", 1)[0]
        [given] = inputs.get(source, [{}])[:1] or [{}]
        value = str(given.get("metadata", {}).get(field, ""))
    if key == "schema_title":
        return artifact["type"] == value
    if key == "state":
        return value == "LIVE"  # the record holds what finished
    if key == "name":
        return artifact["name"] == value
    if key.startswith("metadata.") and key.endswith(".number_value"):
        found = artifact["metadata"].get(key[len("metadata."):-len(".number_value")])
        return isinstance(found, (int, float)) and float(found) == float(value)
    raise DryRunError(f"{task}: the resolver's filter clause {clause!r} is not one a dry run "
                      "can read (schema_title, state, name, metadata.KEY.number_value)")


def _parameters(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task's constant parameters as ExecutorInput.inputs.parameters (schema 2.0)."""
    parameters = {}
    for name, source in task.get("inputs", {}).get("parameters", {}).items():
        constant = source.get("runtimeValue", {}).get("constantValue")
        if constant is None:
            raise DryRunError(f"{task['taskInfo']['name']}: parameter {name!r} is not a "
                              "constant; a dry run cannot resolve it")
        parameters[name] = constant
    return parameters


def _substitute(name: str, arguments: list[str], parameters: dict[str, Any], root: Path,
                notes: list[str]) -> list[str]:
    """The container's arguments with what cannot run here replaced (noted in `notes`)."""
    executor = arguments[arguments.index("--executor_class_path") + 1]
    replaced, stands_for = substitutions().get(executor, (executor, ""))
    if stands_for == "bigquery":
        notes.append(f"{name}: BigQuery -> the generated query on the BigQuery emulator at "
                     f"${ENDPOINT_VARIABLE}")
    elif stands_for == "training":
        custom = json.loads(parameters["custom_config"]["stringValue"])
        spec = custom.get("ai_platform_training_args", {}).get("job_spec", {}).get(
            "worker_pool_specs", custom.get("ai_platform_tuning_args"))
        notes.append(f"{name}: Vertex AI Training -> the same run_fn in a local process "
                     f"(worker pools: {json.dumps(spec, sort_keys=True)})")
    elif stands_for == "endpoint":
        serving = root / "serving"
        parameters["push_destination"] = {"stringValue": json.dumps(
            {"filesystem": {"base_directory": str(serving)}})}
        notes.append(f"{name}: Vertex AI endpoint deploy -> a local push into {serving}")
    arguments = [replaced if argument == executor else argument for argument in arguments]
    if any(argument == "--runner=DataflowRunner" for argument in arguments):
        arguments = [argument for argument in arguments
                     if not argument.startswith(DATAFLOW_ARGUMENTS)]
        notes.append(f"{name}: Dataflow -> Beam's direct runner")
    return arguments


def dry_run(spec: Mapping[str, Any], directory: Path, bigquery_endpoint: str | None = None,
            echo: Any = print) -> DryRunResult:
    """Executes the compiled `spec` under `directory` (see the module's docstring); raises
    DryRunError naming the first task that fails and why."""
    pipeline_spec = spec["pipelineSpec"]
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    components = pipeline_spec["components"]
    executors = pipeline_spec["deploymentSpec"]["executors"]
    directory.mkdir(parents=True, exist_ok=True)
    record = Record(directory / "record.json")
    run_id = time.strftime("run-%Y%m%d-%H%M%S")
    run_root = directory / run_id
    outputs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    results: list[TaskResult] = []
    substitutions: list[str] = []
    for name in in_dependency_order(tasks):
        task = tasks[name]
        component = components[task["componentRef"]["name"]]
        executor = executors[component["executorLabel"]]
        inputs = {key: outputs.get(source["taskOutputArtifact"]["producerTask"], {}).get(
                      source["taskOutputArtifact"]["outputArtifactKey"], [])
                  for key, source in task.get("inputs", {}).get("artifacts", {}).items()}
        started = time.monotonic()
        if "resolver" in executor:
            outputs[name] = {key: [resolved_record_artifact(found) for found in
                                   record.query(name, query["filter"], inputs)]
                             for key, query in executor["resolver"]
                             ["outputArtifactQueries"].items()}
            found = ", ".join(f"{key}: {len(found)}" for key, found in outputs[name].items())
            results.append(TaskResult(name, "resolved", time.monotonic() - started, found))
            echo(f"  {name:<52} resolved   ({found} from earlier dry runs)")
            continue
        if "container" not in executor:
            raise DryRunError(f"{name}: executor kind {sorted(executor)} is not one a dry run "
                              "can execute")
        task_root = run_root / name
        task_root.mkdir(parents=True, exist_ok=True)
        declared = component.get("outputDefinitions", {}).get("artifacts", {})
        task_outputs = {key: [{"name": f"{run_id}/{name}/{key}",
                               "type": definition["artifactType"],
                               "uri": str(task_root / key), "metadata": {}}]
                        for key, definition in declared.items()}
        for artifacts in task_outputs.values():
            # A gs:// "directory" needs no creating; a local one does.
            Path(artifacts[0]["uri"]).mkdir(parents=True, exist_ok=True)
        parameters = _parameters(task)
        notes: list[str] = []
        container = executor["container"]
        arguments = _substitute(name, list(container.get("args", [])), parameters,
                                run_root, notes)
        executor_input = {
            "inputs": {"artifacts": {key: {"artifacts": found}
                                     for key, found in inputs.items() if found},
                       "parameters": parameters},
            "outputs": {"artifacts": {key: {"artifacts": artifacts}
                                      for key, artifacts in task_outputs.items()},
                        "outputFile": str(task_root / "executor_output.json")},
        }
        command = [sys.executable if part == "python" else part
                   for part in container["command"]]
        command += [json.dumps(executor_input) if argument == "{{$}}" else argument
                    for argument in arguments]
        substitutions += notes
        for note in notes:
            echo(f"  substituted: {note}")
        log_path = task_root / "task.log"
        environment = {**os.environ, "PYTHONPATH": str(REPOSITORY_ROOT)}
        if bigquery_endpoint:
            environment[ENDPOINT_VARIABLE] = bigquery_endpoint
        with log_path.open("w") as log:
            code = subprocess.run(command, cwd=REPOSITORY_ROOT, env=environment,  # noqa: S603
                                  stdout=log, stderr=subprocess.STDOUT).returncode
        seconds = time.monotonic() - started
        if code != 0:
            results.append(TaskResult(name, "failed", seconds))
            echo(f"  {name:<52} FAILED     {seconds:6.1f} s")
            raise DryRunError(f"{name} failed (exit code {code}): {_reason(log_path)} "
                              f"(log: {log_path})")
        written = json.loads((task_root / "executor_output.json").read_text()) \
            if (task_root / "executor_output.json").exists() else {}
        for key, artifacts in written.get("artifacts", {}).items():
            for artifact, reported in zip(task_outputs.get(key, []),
                                          artifacts.get("artifacts", []), strict=False):
                artifact["metadata"] = reported.get("metadata", {})
        outputs[name] = task_outputs
        for artifacts in task_outputs.values():
            for artifact in artifacts:
                record.add({"name": artifact["name"], "type": schema_title(artifact["type"]),
                            "uri": artifact["uri"], "metadata": artifact["metadata"],
                            "artifact_type": artifact["type"]})
        results.append(TaskResult(name, "succeeded", seconds))
        echo(f"  {name:<52} succeeded  {seconds:6.1f} s")
    record.save()
    return DryRunResult(run_id, run_root, results, substitutions, outputs)


def _reason(log_path: Path) -> str:
    """The last error line of a task's log."""
    lines = [line.strip() for line in log_path.read_text().splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line.split(":", 1)[0] or
              line.startswith(("ImportError", "ModuleNotFoundError", "ValueError",
                               "KeyError", "TypeError", "RuntimeError"))]
    return (errors or lines or ["no output"])[-1][:400]


def resolved_record_artifact(record_artifact: dict[str, Any]) -> dict[str, Any]:
    """A recorded artifact as a RuntimeArtifact of an ExecutorInput."""
    return {"name": record_artifact["name"], "type": record_artifact["artifact_type"],
            "uri": record_artifact["uri"], "metadata": record_artifact["metadata"]}


def summary_lines(result: DryRunResult) -> list[str]:
    """Metrics, blessing and push, read from the run's artifacts."""
    lines = [f"Dry run {result.run_id}: {len(result.tasks)} tasks under {result.directory}"]
    blessing = result.outputs.get(Node.EVALUATOR, {}).get("blessing", [{}])[0]
    if blessing:
        from evaluation.results import metrics_by_slice

        verdict = "blessed" if blessing["metadata"].get("blessed") else "NOT blessed"
        lines.append(f"  Evaluator: {verdict} ({blessing['uri']})")
        evaluation = result.outputs[Node.EVALUATOR]["evaluation"][0]["uri"]
        overall = metrics_by_slice(evaluation).get("Overall", {})
        lines.append("  metrics: " + ", ".join(f"{key} {value:.3f}" for key, value in
                                               sorted(overall.items())
                                               if isinstance(value, float)))
    sandbox = result.outputs.get(Node.SANDBOX, {}).get("blessing", [{}])[0]
    if sandbox:
        lines.append(f"  ServingSandbox: {sandbox['metadata'].get('reason')}")
    pushed = result.outputs.get(Node.PUSHER, {}).get("pushed_model", [{}])[0]
    if pushed:
        where = pushed["metadata"].get("pushed_destination")
        lines.append(f"  Pusher: pushed to {where}" if pushed["metadata"].get("pushed")
                     else "  Pusher: nothing pushed")
    return lines


def check_dry_run(config: PipelineConfig) -> None:
    if config.data_source == "bigquery" and not os.environ.get(ENDPOINT_VARIABLE):
        raise ConfigError(f"A dry run of a BigQuery pipeline runs its query on a BigQuery "
                          f"emulator: set {ENDPOINT_VARIABLE}=http://HOST:PORT (one that "
                          "holds the table, e.g. bqemulator loaded with testdata).")
