"""The compiled Vertex AI pipeline JSON, executed on this machine task by task, the way
Vertex AI Pipelines' launcher runs it (`vertex_runner.py dry-run`).

What runs is the compiled spec itself, not `create_pipeline` again:
- tasks in dependency order. Each container task runs its container's own command and
  arguments (`python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor
  --executor_class_path ... --json_serialized_invocation_args {{$}}`), with this
  project's Python in place of the image's. Each is a process of its own, forked from
  one that has imported the entry point already (pipeline/processes.py:
  those imports take longer than most tasks' own work);
- `{{$}}` becomes an ExecutorInput built as the launcher builds it. Input artifacts come
  from the producing tasks' outputs, or from a resolver's answer. Parameters are the
  spec's constants, with the types the spec gives them. Output artifacts get URIs on gs://
  (below), or with `--storage=local` under a local directory standing for it. The
  task's output metadata file (ExecutorOutput) is read back afterwards, and its
  artifact metadata goes downstream;
- on object storage (the default of `vertex_runner.py dry-run`): every artifact URI is
  `gs://BUCKET/...` under the spec's own pipeline root, served by a Cloud Storage
  emulator on loopback (pipeline/orchestration/storage_emulator.py), so each step reads
  and writes its artifacts through TensorFlow's, Beam's and the Cloud client's gs://
  clients as on Vertex AI; `--storage=local` gives them local paths instead;
- with `--cache`, Vertex AI's cache: a task whose `cachingOptions.enableCache` is set
  and whose cache key (below, `cache_key`) matches an earlier dry run's is not run; its
  outputs are that run's artifacts;
- resolver tasks are answered from a local record of earlier dry runs (`record.json`),
  through the filter written in the spec (schema title, state, name and
  `metadata.KEY.number_value`). A second dry run finds the first one's blessed model and
  accepted statistics, as Vertex would; a filter clause it cannot read stops the run.
What cannot run here is substituted openly, and each substitution is printed:
- BigQuery: the generated query runs on a BigQuery emulator (`bigquery_endpoint`), and
  its rows become the examples, converted as TFX's BigQueryExampleGen converts them;
- Dataflow: Beam's direct runner (the Dataflow arguments are dropped);
- Vertex AI Training: the same `run_fn` in TFX's local GenericExecutor (the worker-pool
  spec is printed). With more than one replica, one process per replica, each through
  the same entry point, with the CLUSTER_SPEC and TF_CONFIG Vertex AI sets (a chief pool
  and a worker pool on loopback ports); the chief's executor output is the task's;
- the endpoint deploy: a push into `serving/` beside the run's artifacts (on gs://
  when they are);
- the predictions table: written to the BigQuery emulator;
- continuous evaluation's retraining: the training pipeline job it would submit is
  written to its request file, not submitted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline.components.pushed import ALREADY_SERVING
from pipeline.kinds import Node
from pipeline.loopback import free_ports
from pipeline.orchestration.dry_run_executors import ENDPOINT_VARIABLE, EmulatedBigQueryExecutor
from pipeline.orchestration.vertex import in_dependency_order
from pipeline.processes import start_command
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
    from pipeline.components.retraining import Executor as RetrainingExecutor
    from pipeline.components.retraining import RecordedRetrainingExecutor
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
            class_path(vertex_pusher.Executor): (push, "endpoint"),
            class_path(RetrainingExecutor): (class_path(RecordedRetrainingExecutor),
                                             "retraining")}

# Beam arguments that only mean something to Dataflow. Not --sdk_container_image: the
# direct runner ignores it, and TFX reads it as the step's dependencies being in its
# image, as they are (pipeline/orchestration/vertex.py: beam_pipeline_args).
DATAFLOW_ARGUMENTS = ("--runner=", "--project=", "--temp_location=", "--region=",
                      "--machine_type=", "--max_num_workers=", "--disk_size_gb=",
                      "--experiments=", "--service_account_email=")


class DryRunError(RuntimeError):
    """A task failed; the message names it and the reason."""


@dataclasses.dataclass
class TaskResult:
    name: str
    state: str  # succeeded, cached, resolved, failed
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


def task_parameters(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task's constant parameters as ExecutorInput.inputs.parameters (schema 2.0)."""
    parameters = {}
    for name, source in task.get("inputs", {}).get("parameters", {}).items():
        constant = source.get("runtimeValue", {}).get("constantValue")
        if constant is None:
            raise DryRunError(f"{task['taskInfo']['name']}: parameter {name!r} is not a "
                              "constant; a dry run cannot resolve it")
        parameters[name] = constant
    return parameters


def replica_count(parameters: Mapping[str, Any]) -> int:
    """How many replicas the task's Vertex AI Training job has (1 without a job spec)."""
    custom = json.loads(parameters.get("custom_config", {}).get("stringValue", "{}") or "{}")
    pools = (custom.get("ai_platform_training_args", {}).get("job_spec", {})
             .get("worker_pool_specs", []))
    return max(1, sum(int(pool.get("replica_count", 1)) for pool in pools))


def _substitute(name: str, arguments: list[str], parameters: dict[str, Any], root: str,
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
        replicas = replica_count(parameters)
        where = "a local process" if replicas == 1 else \
            f"{replicas} local processes, a chief and {replicas - 1} worker(s) on loopback"
        notes.append(f"{name}: Vertex AI Training -> the same run_fn in {where} "
                     f"(worker pools: {json.dumps(spec, sort_keys=True)})")
    elif stands_for == "endpoint":
        serving = f"{root}/serving"
        parameters["push_destination"] = {"stringValue": json.dumps(
            {"filesystem": {"base_directory": str(serving)}})}
        notes.append(f"{name}: Vertex AI endpoint deploy -> a push into {serving}")
    elif stands_for == "retraining":
        notes.append(f"{name}: the training pipeline job -> written to its request file, "
                     "not submitted")
    arguments = [replaced if argument == executor else argument for argument in arguments]
    if any(argument == "--runner=DataflowRunner" for argument in arguments):
        arguments = [argument for argument in arguments
                     if not argument.startswith(DATAFLOW_ARGUMENTS)]
        notes.append(f"{name}: Dataflow -> Beam's direct runner")
    return arguments


def cache_key(task: Mapping[str, Any], component: Mapping[str, Any],
              container: Mapping[str, Any], inputs: Mapping[str, list[dict]],
              parameters: Mapping[str, Any]) -> str:
    """The task's cache key as Vertex AI Pipelines computes it (KFP's CacheKey): the names
    of its input artifacts, its input parameters, its output definitions and its
    container (image, command and arguments), as compiled. An upstream task that runs
    again makes new artifacts, with new names, so everything it feeds runs again too; a
    resolver's different answer does the same."""
    return hashlib.sha256(json.dumps({
        "inputArtifactNames": {key: [artifact["name"] for artifact in found]
                               for key, found in sorted(inputs.items())},
        "inputParameters": parameters,
        "outputArtifactsSpec": component.get("outputDefinitions", {}).get("artifacts", {}),
        "outputParametersSpec": component.get("outputDefinitions", {}).get("parameters", {}),
        "containerSpec": {"image": container.get("image"),
                          "cmdArgs": [*container.get("command", []),
                                      *container.get("args", [])]},
    }, sort_keys=True).encode()).hexdigest()


class Cache:
    """Vertex AI's cache for dry runs under one directory: cache key -> the outputs of
    the run that made them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = (
            json.loads(path.read_text()) if path.exists() else {})

    def save(self) -> None:
        self.path.write_text(json.dumps(self.entries, indent=1))


def replica_environments(replicas: int) -> list[dict[str, str]]:
    """CLUSTER_SPEC and TF_CONFIG for each replica, as Vertex AI Training sets them for a
    chief pool (workerpool0) and a worker pool (workerpool1): the chief's first."""
    if replicas == 1:
        return [{}]
    chief, *workers = (f"127.0.0.1:{port}" for port in free_ports(replicas))
    pools = {"workerpool0": [chief], "workerpool1": workers}
    cluster = {"chief": [chief], "worker": workers}
    roles = [("workerpool0", "chief", 0)] + [("workerpool1", "worker", index)
                                               for index in range(len(workers))]
    return [{"CLUSTER_SPEC": json.dumps({"cluster": pools, "environment": "cloud",
                                         "task": {"type": pool, "index": index}}),
             "TF_CONFIG": json.dumps({"cluster": cluster, "environment": "cloud",
                                      "task": {"type": role, "index": index}})}
            for pool, role, index in roles]


def _run_replicas(commands: list[list[str]], environments: list[dict[str, str]],
                  logs: list[Path]) -> int:
    """Runs one process per replica; the first non-zero exit code, else 0. When one fails,
    the others are killed (a worker waiting on its peers' collectives never returns)."""
    processes = [start_command(command, environment, REPOSITORY_ROOT, log_path)
                 for command, environment, log_path in zip(commands, environments, logs,
                                                           strict=True)]
    while any(process.poll() is None for process in processes):
        if any(process.returncode not in (None, 0) for process in processes):
            for process in processes:
                if process.poll() is None:
                    process.kill()
            break
        # Every task's end is noticed here: polled every 0.5 s, a task waited 0.25 s on
        # average after it had ended.
        time.sleep(0.05)
    codes = [process.wait() for process in processes]
    return next((code for code in codes if code != 0), 0)


def artifact_root(spec: Mapping[str, Any], directory: Path, on_storage: bool) -> str:
    """Where the dry run's artifacts go: under the spec's own gs:// pipeline root, or the
    local directory that stands for it."""
    if on_storage:
        return spec["runtimeConfig"]["gcsOutputDirectory"].rstrip("/") + "/dry-run"
    return str(directory)


def dry_run(spec: Mapping[str, Any], directory: Path, bigquery_endpoint: str | None = None,
            echo: Any = print, storage: Mapping[str, str] | None = None,
            cache: bool = False) -> DryRunResult:
    """Executes the compiled `spec` (see the module's docstring). `directory` stands for the
    project: its record of artifacts (what Vertex's metadata store holds, read by every
    pipeline's resolvers, so the scoring pipeline finds the training pipeline's model) and
    its cache are shared by every pipeline dry-run there; each run's logs are under
    `directory/PIPELINE_NAME/RUN_ID/`. `storage`: the environment of a Cloud Storage emulator
    (StorageEmulator.environment()), to put every artifact on the spec's gs:// root;
    `cache`: emulate Vertex AI's cache. Raises DryRunError naming the first task that
    fails and why."""
    pipeline_spec = spec["pipelineSpec"]
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    components = pipeline_spec["components"]
    executors = pipeline_spec["deploymentSpec"]["executors"]
    directory.mkdir(parents=True, exist_ok=True)
    record = Record(directory / "record.json")
    reused = Cache(directory / "cache.json")
    run_id = time.strftime("run-%Y%m%d-%H%M%S")
    pipeline_name = pipeline_spec["pipelineInfo"]["name"]
    run_root = directory / pipeline_name / run_id
    root = artifact_root(spec, directory / pipeline_name, storage is not None)
    outputs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    results: list[TaskResult] = []
    substitutions: list[str] = []
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY_ROOT), **(storage or {})}
    if bigquery_endpoint:
        environment[ENDPOINT_VARIABLE] = bigquery_endpoint
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
        parameters = task_parameters(task)
        container = executor["container"]
        fingerprint = cache_key(task, component, container, inputs, parameters)
        if cache and task.get("cachingOptions", {}).get("enableCache") \
                and fingerprint in reused.entries:
            outputs[name] = reused.entries[fingerprint]["outputs"]
            made_by = reused.entries[fingerprint]["run_id"]
            results.append(TaskResult(name, "cached", 0.0, made_by))
            echo(f"  {name:<52} cached     (the outputs of {made_by})")
            continue
        task_root = run_root / name
        task_root.mkdir(parents=True, exist_ok=True)
        declared = component.get("outputDefinitions", {}).get("artifacts", {})
        task_outputs = {key: [{"name": f"{pipeline_name}/{run_id}/{name}/{key}",
                               "type": definition["artifactType"],
                               "uri": f"{root}/{run_id}/{name}/{key}", "metadata": {}}]
                        for key, definition in declared.items()}
        if storage is None:
            for artifacts in task_outputs.values():
                # A gs:// "directory" needs no creating; a local one does.
                Path(artifacts[0]["uri"]).mkdir(parents=True, exist_ok=True)
        notes: list[str] = []
        arguments = _substitute(name, list(container.get("args", [])), parameters,
                                root, notes)
        executor_input = {
            "inputs": {"artifacts": {key: {"artifacts": found}
                                     for key, found in inputs.items() if found},
                       "parameters": parameters},
            "outputs": {"artifacts": {key: {"artifacts": artifacts}
                                      for key, artifacts in task_outputs.items()},
                        "outputFile": str(task_root / "executor_output.json")},
        }
        replicas = replica_count(parameters) if any(
            "Vertex AI Training" in note for note in notes) else 1
        commands, logs = [], []
        for replica in range(replicas):
            suffix = "" if replica == 0 else f"-replica{replica}"
            replica_input = json.loads(json.dumps(executor_input))
            replica_input["outputs"]["outputFile"] = str(
                task_root / f"executor_output{suffix}.json")
            command = [sys.executable if part == "python" else part
                       for part in container["command"]]
            commands.append(command + [json.dumps(replica_input) if argument == "{{$}}"
                                       else argument for argument in arguments])
            logs.append(task_root / f"task{suffix}.log")
        substitutions += notes
        for note in notes:
            echo(f"  substituted: {note}")
        code = _run_replicas(commands, [{**environment, **extra} for extra in
                                        replica_environments(replicas)], logs)
        log_path = logs[0]
        seconds = time.monotonic() - started
        if code != 0:
            results.append(TaskResult(name, "failed", seconds))
            echo(f"  {name:<52} FAILED     {seconds:6.1f} s")
            failed = next((log for log in logs if "Traceback" in log.read_text()), log_path)
            raise DryRunError(f"{name} failed (exit code {code}): {_reason(failed)} "
                              f"(log: {failed})")
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
        reused.entries[fingerprint] = {"run_id": run_id, "outputs": task_outputs}
        note = "" if replicas == 1 else f"{replicas} replicas"
        results.append(TaskResult(name, "succeeded", seconds, note))
        echo(f"  {name:<52} succeeded  {seconds:6.1f} s" + (f"  ({note})" if note else ""))
        record.save()
        reused.save()
    record.save()
    reused.save()
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
        checked = sandbox["metadata"].get("answers_checked")
        lines.append(f"  ServingSandbox: {sandbox['metadata'].get('reason')}"
                     + (f" ({checked:.0f} eval examples' answers checked)"
                        if checked is not None else ""))
    pushed = result.outputs.get(Node.PUSHER, {}).get("pushed_model", [{}])[0]
    if pushed:
        found = pushed["metadata"]
        if found.get("pushed"):
            lines.append(f"  Pusher: pushed to {found.get('pushed_destination')}")
        elif found.get(ALREADY_SERVING):
            lines.append(f"  Pusher: nothing pushed: this very model already serves as "
                         f"{found[ALREADY_SERVING]}")
        else:
            lines.append("  Pusher: nothing pushed")
    written = result.outputs.get(Node.BATCH_SCORER, {}).get("predictions", [{}])[0]
    if written:
        found = written["metadata"]
        lines.append(f"  BatchScorer: {found.get('rows', 0):.0f} predictions in "
                     f"{written['uri']}" + (f"; {found.get('bigquery_rows', 0):.0f} rows "
                                            f"appended to {found['bigquery_table']}"
                                            if found.get("bigquery_table") else ""))
    health = result.outputs.get(Node.HEALTH_CHECK, {}).get("health", [{}])[0]
    if health:
        findings = json.loads(health["metadata"].get("findings") or "[]")
        lines.append(f"  ModelHealthCheck: {'DEGRADED' if findings else 'healthy'} "
                     f"({health['uri']})" + "".join(f"\n    {line}" for line in findings))
    request = result.outputs.get(Node.RETRAINING_TRIGGER, {}).get("request", [{}])[0]
    if request:
        job = request["metadata"].get("job")
        lines.append(f"  RetrainingTrigger: training pipeline job {job}" if job else
                     "  RetrainingTrigger: no training run")
    return lines


def check_dry_run(config: PipelineConfig) -> None:
    if config.data_source == "bigquery" and not os.environ.get(ENDPOINT_VARIABLE):
        raise ConfigError(f"A dry run of a BigQuery pipeline runs its query on a BigQuery "
                          f"emulator: set {ENDPOINT_VARIABLE}=http://HOST:PORT (one that "
                          "holds the table, e.g. bqemulator loaded with testdata).")
