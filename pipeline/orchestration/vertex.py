"""Running the pipeline on Google Cloud: Vertex AI Pipelines, Dataflow, Training and endpoints.

`create_pipeline` stays the one definition; this module only turns the cloud settings of
`PipelineConfig` into what it takes (pipeline root, Beam arguments, the Vertex AI Trainer's
and Pusher's custom_config), compiles it with `KubeflowV2DagRunner`, and submits or
schedules the compiled JSON through `google-cloud-aiplatform`.

Everything here runs offline except `submit` and `schedule`, which call the Vertex AI API
with Application Default Credentials. TFX, its Vertex AI extensions and aiplatform are
imported inside the functions that use them (aiplatform alone takes about 9 s): the
checks and `images` answer without them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.kinds import TRAINING, ContinuousEvaluation, Node, PipelineKind, Scoring
from pipeline.settings import REPOSITORY_ROOT, PipelineConfig
from pipeline.settings.values import ConfigError

CPU_DOCKERFILE = "docker/cpu.Dockerfile"
GPU_DOCKERFILE = "docker/gpu.Dockerfile"


def image_sources() -> tuple[str, ...]:
    """What the images bake in, read from the Dockerfiles themselves (so the list cannot
    fall behind them): both Dockerfiles and every source their COPY lines name."""
    sources = {CPU_DOCKERFILE, GPU_DOCKERFILE}
    for dockerfile in (CPU_DOCKERFILE, GPU_DOCKERFILE):
        text = re.sub(r"\\\n\s*", " ", (REPOSITORY_ROOT / dockerfile).read_text())
        for line in text.splitlines():
            words = line.split()
            if words and words[0].upper() == "COPY":
                sources.update(word.rstrip("/") for word in words[1:-1]
                               if not word.startswith("--"))
    return tuple(sorted(sources))

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_IMAGE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?LW#]+$")


def accelerator_types() -> tuple[str, ...]:
    """The accelerator names Vertex AI Training accepts, from the API's own enum."""
    from google.cloud.aiplatform_v1.types import AcceleratorType

    return tuple(a.name for a in AcceleratorType if a.name != "ACCELERATOR_TYPE_UNSPECIFIED")


# ---------------------------------------------------------------------- validation
def validate_cloud(config: PipelineConfig) -> PipelineConfig:
    """Checks the settings a cloud run needs, each error naming its setting; returns config.
    Each setting's own limits are declared with it (pipeline/settings/) and checked when
    the configuration loads; these are the checks of formats and of settings together.

    Runs before anything is compiled, so a typo never reaches a billed job.
    """
    if not config.gcp_project:
        raise ConfigError("gcp_project is not set: pass --gcp_project=PROJECT_ID "
                          "(or TFX_PIPELINE_GCP_PROJECT).")
    if not _PROJECT_ID.match(config.gcp_project):
        raise ConfigError(f"gcp_project={config.gcp_project!r} is not a project id (6-30 "
                          "lowercase letters, digits and hyphens, starting with a letter).")
    if not config.gcp_region:
        raise ConfigError("gcp_region is not set: pass --gcp_region=REGION, e.g. us-central1.")
    if not _REGION.match(config.gcp_region):
        raise ConfigError(f"gcp_region={config.gcp_region!r} is not a region such as "
                          "us-central1 or europe-west4.")
    if not config.gcs_root:
        raise ConfigError("gcs_root is not set: pass --gcs_root=gs://BUCKET[/PREFIX] for the "
                          "pipeline root, Beam temp files and pushed models.")
    _check_gcs_path("gcs_root", config.gcs_root)
    if config.data_source == "file":
        if not config.data_path.startswith("gs://"):
            raise ConfigError(f"data_path={config.data_path!r} is on this machine, which cloud "
                              "steps cannot read: use data_source=bigquery or a gs:// path.")
        _check_gcs_path("data_path", config.data_path)
    if config.service_account and not re.match(r"^[^@\s]+@[^@\s]+\.[a-z.]+$",
                                               config.service_account):
        raise ConfigError(f"service_account={config.service_account!r} is not a service "
                          "account e-mail (NAME@PROJECT.iam.gserviceaccount.com).")
    for key, value in config.vertex_labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise ConfigError(f"vertex_labels: {key}={value!r} is not a valid label (lowercase "
                              "letters, digits, _ and -, keys starting with a letter).")
    for key in ("container_image", "gpu_container_image", "serving_container_image"):
        value = getattr(config, key)
        if value and not _IMAGE.match(value):
            raise ConfigError(f"{key}={value!r} is not an image reference "
                              "(HOST/PATH:TAG or HOST/PATH@sha256:DIGEST).")
    accelerator = config.trainer_accelerator_type
    if accelerator and accelerator not in accelerator_types():
        raise ConfigError(f"trainer_accelerator_type={accelerator!r} is not a Vertex AI "
                          f"accelerator; choose one of: {', '.join(accelerator_types())}.")
    if config.trainer_accelerator_count and not accelerator:
        raise ConfigError(f"trainer_accelerator_count={config.trainer_accelerator_count} "
                          "needs trainer_accelerator_type, e.g. NVIDIA_TESLA_T4.")
    if accelerator and not config.trainer_accelerator_count:
        raise ConfigError(f"trainer_accelerator_type={accelerator} needs "
                          "trainer_accelerator_count of at least 1.")
    if config.serving_max_replicas < config.serving_min_replicas:
        raise ConfigError(f"serving_max_replicas={config.serving_max_replicas} is below "
                          f"serving_min_replicas={config.serving_min_replicas}.")
    _check_cron(config.schedule_cron)
    return config


def _check_gcs_path(key: str, path: str) -> None:
    if not path.startswith("gs://"):
        raise ConfigError(f"{key}={path!r} is not a gs:// path.")
    bucket = path[len("gs://"):].split("/", 1)[0]
    if not _BUCKET.match(bucket):
        raise ConfigError(f"{key}={path!r}: {bucket!r} is not a valid bucket name.")


def _check_cron(cron: str) -> None:
    fields = cron.split()
    if fields and fields[0].startswith(("TZ=", "CRON_TZ=")):
        fields = fields[1:]
    if len(fields) != 5 or not all(_CRON_FIELD.match(field) for field in fields):
        raise ConfigError(f"schedule_cron={cron!r} is not a cron expression of five fields "
                          "(minute hour day-of-month month day-of-week), e.g. '0 6 * * 1'.")


# ---------------------------------------------------------------------- where things go
@dataclasses.dataclass(frozen=True)
class CloudLayout:
    """Where a cloud run keeps things, all under `config.gcs_root`."""

    root: str
    pipeline_name: str

    @classmethod
    def for_config(cls, config: PipelineConfig) -> CloudLayout:
        return cls(config.gcs_root.rstrip("/"), config.pipeline_name)

    @property
    def pipeline_root(self) -> str:
        return f"{self.root}/pipeline_root/{self.pipeline_name}"

    @property
    def temp_location(self) -> str:
        return f"{self.root}/tmp"

    @property
    def serving_directory(self) -> str:
        return f"{self.root}/serving/{self.pipeline_name}"

    @property
    def training_template(self) -> str:
        """The compiled training pipeline that continuous evaluation submits when the
        model degraded (uploaded by `submit-evaluation` and `schedule-evaluation`)."""
        return f"{self.root}/templates/{self.pipeline_name}.json"


def image_tag() -> str:
    """A tag that changes whenever anything baked into the images changes: every file of
    `image_sources()` (Dockerfiles, lock files, code, schemas), by path and content."""
    digest = hashlib.sha256()
    for source in image_sources():
        path = REPOSITORY_ROOT / source
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if path.is_dir() else [path] if path.exists() else []
        for file in files:
            digest.update(str(file.relative_to(REPOSITORY_ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def image_uris(config: PipelineConfig) -> dict[str, str]:
    """The CPU and GPU image URIs: configured, or in the project's Artifact Registry."""
    if not config.gcp_project and not (config.container_image and config.gpu_container_image):
        raise ConfigError("gcp_project is not set, and the image URIs are derived from it: "
                          "pass --gcp_project=PROJECT_ID or set container_image and "
                          "gpu_container_image.")
    repository = f"{config.gcp_region}-docker.pkg.dev/{config.gcp_project}/{config.pipeline_name}"
    tag = image_tag()
    return {
        "cpu": config.container_image or f"{repository}/cpu:{tag}",
        "gpu": config.gpu_container_image or f"{repository}/gpu:{tag}",
    }


def beam_pipeline_args(config: PipelineConfig, layout: CloudLayout) -> list[str]:
    """Arguments for every Beam step: Dataflow workers, or the direct runner in the step."""
    common = [f"--project={config.gcp_project}", f"--temp_location={layout.temp_location}",
              # Dataflow workers run the pipeline's own image, so preprocessing.py and the
              # pinned libraries are the same on every worker as in the step that launched
              # them. The direct runner runs in the step's container, which is that image,
              # and ignores the flag; TFX reads it too: given Beam arguments that name no
              # image or package, every Beam step first builds an sdist of TFX for remote
              # workers (1.3-2.3 s a step, measured in the dry runs) that nothing installs.
              f"--sdk_container_image={image_uris(config)['cpu']}"]
    if config.beam_runner == "direct":
        # Inside the step's container; BigQuery reads still stage through temp_location.
        return [*common, f"--direct_running_mode={config.beam_direct_running_mode}",
                f"--direct_num_workers={config.beam_direct_num_workers}"]
    return [
        "--runner=DataflowRunner",
        *common,
        f"--region={config.gcp_region}",
        f"--machine_type={config.dataflow_machine_type}",
        f"--max_num_workers={config.dataflow_max_workers}",
        f"--disk_size_gb={config.dataflow_disk_size_gb}",
        "--experiments=use_runner_v2",
        *([f"--service_account_email={config.service_account}"]
          if config.service_account else []),
    ]


def vertex_training_config(config: PipelineConfig) -> dict[str, Any]:
    """The Vertex AI Trainer's custom_config: one chief plus (replicas - 1) workers.

    Vertex AI sets TF_CONFIG on each replica; `models.distribution.choose_strategy` turns
    that (or several GPUs on one machine) into the matching tf.distribute strategy.
    """
    from tfx.extensions.google_cloud_ai_platform.trainer.executor import TRAINING_ARGS_KEY

    machine_spec: dict[str, Any] = {"machine_type": config.trainer_machine_type}
    image = image_uris(config)["cpu"]
    if config.trainer_accelerator_count:
        machine_spec.update(accelerator_type=config.trainer_accelerator_type,
                            accelerator_count=config.trainer_accelerator_count)
        image = image_uris(config)["gpu"]
    pool = {"machine_spec": machine_spec, "container_spec": {"image_uri": image}}
    pools = [{**pool, "replica_count": 1}]
    if config.trainer_replica_count > 1:
        pools.append({**pool, "replica_count": config.trainer_replica_count - 1})
    return _vertex_job_config(config, TRAINING_ARGS_KEY, pools)


def _vertex_job_config(config: PipelineConfig, arguments_key: str,
                       pools: list[dict[str, Any]]) -> dict[str, Any]:
    """A Vertex AI Trainer's or Tuner's custom_config: its job on `pools` of machines."""
    from tfx.extensions.google_cloud_ai_platform import constants

    job_spec: dict[str, Any] = {"worker_pool_specs": pools}
    if config.service_account:
        job_spec["service_account"] = config.service_account
    return {
        constants.ENABLE_VERTEX_KEY: True,
        constants.VERTEX_REGION_KEY: config.gcp_region,
        arguments_key: {"project": config.gcp_project, "job_spec": job_spec,
                        "labels": dict(config.vertex_labels)},
    }


def vertex_tuning_config(config: PipelineConfig) -> dict[str, Any] | None:
    """The Vertex AI Tuner's custom_config, or None when the pipeline does not search.

    One machine per trial, like the Trainer's chief: TFX's Vertex Tuner starts
    `search_parallel_trials` of them, which share one keras-tuner oracle.
    """
    if config.hyperparameter_search == "off":
        return None
    from tfx.extensions.google_cloud_ai_platform.trainer.executor import TRAINING_ARGS_KEY
    from tfx.extensions.google_cloud_ai_platform.tuner.executor import TUNING_ARGS_KEY

    training = vertex_training_config(config)[TRAINING_ARGS_KEY]["job_spec"]
    chief = {**training["worker_pool_specs"][0], "replica_count": 1}
    return _vertex_job_config(config, TUNING_ARGS_KEY, [chief])


def vertex_serving_config(config: PipelineConfig) -> dict[str, Any] | None:
    """The Vertex AI Pusher's custom_config, or None to push files under gcs_root."""
    if config.push_destination != "vertex_endpoint":
        return None
    from tfx.extensions.google_cloud_ai_platform import constants

    return {
        constants.ENABLE_VERTEX_KEY: True,
        constants.VERTEX_REGION_KEY: config.gcp_region,
        constants.VERTEX_CONTAINER_IMAGE_URI_KEY: config.serving_container_image,
        constants.SERVING_ARGS_KEY: {
            "project_id": config.gcp_project,
            "endpoint_name": config.serving_endpoint_name,
            "machine_type": config.serving_machine_type,
            "min_replica_count": config.serving_min_replicas,
            "max_replica_count": config.serving_max_replicas,
            "traffic_percentage": config.serving_traffic_percent,
        },
    }


def vertex_retraining_job(config: PipelineConfig) -> dict[str, Any]:
    """The PipelineJob arguments of one training run from the uploaded training template:
    what continuous evaluation's RetrainingTrigger submits."""
    layout = CloudLayout.for_config(config)
    return {**pipeline_job_arguments(config, layout.training_template, TRAINING),
            "service_account": config.service_account}


# ---------------------------------------------------------------------- compile
def template_path(config: PipelineConfig, kind: PipelineKind = TRAINING) -> Path:
    """Where `compile_pipeline` writes the JSON of `kind`'s pipeline."""
    return Path(config.output_root) / "vertex" / f"{kind.pipeline_name(config)}.json"


def target_of(config: PipelineConfig) -> Any:
    """Vertex AI, as `config`'s cloud settings place a run (pipeline/targets.py)."""
    from pipeline.targets import vertex_target

    layout = CloudLayout.for_config(config)
    return vertex_target(layout.pipeline_root, layout.serving_directory,
                         tuple(beam_pipeline_args(config, layout)),
                         training=vertex_training_config(config),
                         tuning=vertex_tuning_config(config),
                         serving=vertex_serving_config(config),
                         retraining_job=vertex_retraining_job(config))


def compile_pipeline(config: PipelineConfig, output_path: Path,
                     kind: PipelineKind = TRAINING) -> dict[str, Any]:
    """Validates the cloud settings, compiles `kind`'s pipeline (the production pipeline by
    default; `Scoring()`: batch predictions with the latest blessed model) to
    `output_path`, returns the JSON."""
    validate_cloud(config)
    if kind.scores_rows:
        _check_scoring(config)
    if isinstance(kind, ContinuousEvaluation):
        _check_evaluation(config)
        if config.retrain_on_degradation:
            # What the RetrainingTrigger submits, compiled beside it for the upload.
            compile_pipeline(config, template_path(config, TRAINING), TRAINING)
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipeline.definition import create_pipeline

    pipeline = create_pipeline(config, target_of(config), kind)
    pipeline.enable_cache = config.vertex_enable_caching
    output_path.parent.mkdir(parents=True, exist_ok=True)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            display_name=pipeline.pipeline_info.pipeline_name,
            default_image=image_uris(config)["cpu"]),
        output_dir=str(output_path.parent),
        output_filename=output_path.name,
    )
    runner.run(pipeline, write_out=True)
    spec = json.loads(output_path.read_text())
    _resolve_our_own_types(spec)
    output_path.write_text(json.dumps(spec, indent=2, sort_keys=True))
    if kind.window_moves(config):
        # The moving window's query text is the same every day, so a cached ExampleGen would
        # serve last week's rows; it must run each time (its new output then re-runs the rest).
        spec["pipelineSpec"]["root"]["dag"]["tasks"][kind.example_gen_node].pop(
            "cachingOptions", None)
        output_path.write_text(json.dumps(spec, indent=2, sort_keys=True))
    return spec


def _resolve_our_own_types(spec: dict[str, Any]) -> None:
    """TFX's KubeflowV2 compiler writes a resolver's query for any type that is not one of
    TFX's own as `schema_title="tfx.Artifact"`, while the artifacts themselves are
    registered under their own title (e.g. pipeline.AcceptedStatistics). On Vertex AI that
    query never finds them, so drift would never be checked against the last accepted
    data (`vertex_runner.py dry-run` found this). Each such query is given the title its
    own output declares."""
    pipeline_spec = spec["pipelineSpec"]
    executors = pipeline_spec["deploymentSpec"]["executors"]
    for component in pipeline_spec["components"].values():
        resolver = executors.get(component.get("executorLabel", ""), {}).get("resolver")
        if not resolver:
            continue
        declared = component.get("outputDefinitions", {}).get("artifacts", {})
        for key, query in resolver["outputArtifactQueries"].items():
            artifact_type = declared.get(key, {}).get("artifactType", {})
            title = (artifact_type.get("schemaTitle")
                     or re.search(r"^title: (\S+)$", artifact_type.get("instanceSchema", ""),
                                  re.MULTILINE).group(1))
            query["filter"] = query["filter"].replace('schema_title="tfx.Artifact"',
                                                      f'schema_title="{title}"')


def _check_evaluation(config: PipelineConfig) -> None:
    if config.ab_models:
        raise ConfigError("ab_models: the A/B comparison runs locally (evaluate-deployed), "
                          "where the pushed versions are found in ML Metadata; on Vertex AI "
                          "the pipeline judges the latest blessed model.")
    if config.data_source == "file" and not config.evaluation_data_path.startswith("gs://"):
        raise ConfigError(f"evaluation_data_path={config.evaluation_data_path!r}: a Vertex AI "
                          "pipeline reads files under gs:// only.")


def upload_training_template(config: PipelineConfig, credentials: Any = None) -> str:
    """Uploads the compiled training pipeline to where the RetrainingTrigger reads it;
    its gs:// URI."""
    from google.cloud import storage

    uri = CloudLayout.for_config(config).training_template
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    client = storage.Client(project=config.gcp_project, credentials=credentials)
    client.bucket(bucket).blob(name).upload_from_filename(
        str(template_path(config, TRAINING)), content_type="application/json")
    return uri


def _check_scoring(config: PipelineConfig) -> None:
    if config.data_source == "bigquery" and not config.scoring_bigquery_table:
        raise ConfigError("scoring_bigquery_table is empty: name the table of rows to score "
                          "(project.dataset.table).")
    if config.data_source == "file" and not config.scoring_data_path.startswith("gs://"):
        raise ConfigError(f"scoring_data_path={config.scoring_data_path!r}: a Vertex AI "
                          "pipeline reads files under gs:// only.")
    if config.predictions_bigquery_table and not re.match(
            r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+$",
            config.predictions_bigquery_table):
        raise ConfigError(f"predictions_bigquery_table={config.predictions_bigquery_table!r} "
                          "is not of the form project.dataset.table.")


def describe(config: PipelineConfig, spec: Mapping[str, Any]) -> str:
    """A plain summary of what will run where, for a person about to submit."""
    layout = CloudLayout.for_config(config)
    images = image_uris(config)
    pipeline_spec = spec["pipelineSpec"]
    executors = pipeline_spec["deploymentSpec"]["executors"]
    components = pipeline_spec["components"]
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    kind = (Scoring() if Node.BATCH_SCORER in tasks else
            ContinuousEvaluation() if Node.HEALTH_CHECK in tasks else TRAINING)
    lines = [
        f"Pipeline {spec['pipelineSpec']['pipelineInfo']['name']!r} (variant "
        f"{config.variant}) on Vertex AI Pipelines",
        f"  project {config.gcp_project}, region {config.gcp_region}",
        f"  pipeline root {layout.pipeline_root}",
        f"  runs as {config.service_account or 'the project default service account'}; "
        f"caching {'on' if config.vertex_enable_caching else 'off'}",
        f"  data: {_data_description(config, kind)}",
        f"  steps run in {images['cpu']}",
        "  steps, in order:",
    ]
    width = max(len(name) for name in tasks)
    for name in in_dependency_order(tasks):
        executor = executors[components[tasks[name]["componentRef"]["name"]]["executorLabel"]]
        if "container" not in executor:
            where = "resolved by Vertex AI Pipelines from its metadata, no container"
        elif executor["container"]["image"] != images["cpu"]:
            where = f"step in {executor['container']['image']}"
        else:
            where = "step"
        if "container" in executor and _runs_beam(executor):
            where += (f"; Beam on Dataflow ({config.dataflow_machine_type}, up to "
                      f"{config.dataflow_max_workers} workers)" if config.beam_runner == "dataflow"
                      else "; Beam direct runner inside the step")
        if name == Node.TRAINER:
            where = _training_description(config, images)
        if name == Node.TUNER:
            where = (f"Vertex AI Training: {config.hyperparameter_search} search, "
                     f"{config.search_trials} trials, {config.search_parallel_trials} at once, "
                     f"each on {config.trainer_machine_type}")
        if name == Node.BATCH_SCORER:
            where = ("step: the model on whole batches; JSON lines under the pipeline "
                     f"root, appended to BigQuery {config.predictions_bigquery_table}"
                     if config.predictions_bigquery_table
                     else "step: the model on whole batches; JSON lines under the pipeline root")
        if name == Node.SANDBOX:
            where = (f"step: serves the candidate in the step's container for "
                     f"{config.sandbox_seconds:g} s, blocks the push above "
                     f"{config.max_latency_p99_ms:g} ms p99 or below "
                     f"{config.min_examples_per_second:g} examples/s")
        if name == Node.PUSHER:
            where = (f"Vertex AI endpoint {config.serving_endpoint_name!r} "
                     f"({config.serving_machine_type}, {config.serving_min_replicas}-"
                     f"{config.serving_max_replicas} replicas, "
                     f"{config.serving_traffic_percent}% of traffic), blessed models only"
                     if config.push_destination == "vertex_endpoint"
                     else f"files under {layout.serving_directory}, blessed models only")
        lines.append(f"    {name:<{width}}  {where}")
    return "\n".join(lines)


def _runs_beam(executor: Mapping[str, Any]) -> bool:
    """Whether a compiled task's executor is a Beam executor (its Beam steps then run on
    Dataflow or the direct runner), read from the executor class the task names."""
    import importlib

    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor

    arguments = executor["container"]["args"]
    module, _, name = arguments[arguments.index("--executor_class_path") + 1].rpartition(".")
    return issubclass(getattr(importlib.import_module(module), name), BaseBeamExecutor)


def in_dependency_order(tasks: Mapping[str, Any]) -> list[str]:
    """Task names, each after the tasks it depends on (alphabetical among equals); the
    order `describe` prints and `vertex_dry_run` executes."""
    remaining = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}
    ordered: list[str] = []
    while remaining:
        ready = sorted(name for name, needs in remaining.items() if needs <= set(ordered))
        if not ready:
            raise ConfigError(f"tasks {sorted(remaining)} wait on each other")
        ordered.extend(ready)
        for name in ready:
            del remaining[name]
    return ordered


def _data_description(config: PipelineConfig, kind: PipelineKind) -> str:
    if config.data_source == "file":
        return f"files {kind.data_path(config)}"
    if isinstance(kind, ContinuousEvaluation):
        return ("BigQuery, evaluation_query" if config.evaluation_query else
                f"BigQuery {config.bigquery_table}, the {config.evaluation_window_days} days "
                f"before each run by "
                f"{config.evaluation_timestamp_column or config.bigquery_timestamp_column}, "
                "with labels")
    if kind.scores_rows:
        return f"BigQuery {kind.bigquery_table(config)}, every row, to score"
    window = (f"the {config.bigquery_window_days} days before each run"
              if config.bigquery_window_days
              else f"{config.bigquery_start_date} to {config.bigquery_end_date}")
    return (f"BigQuery {config.bigquery_table}, {window}, "
            f"{config.bigquery_sample_percent:g}% sample")


def _training_description(config: PipelineConfig, images: Mapping[str, str]) -> str:
    accelerator = (f" + {config.trainer_accelerator_count}x {config.trainer_accelerator_type}"
                   if config.trainer_accelerator_count else "")
    replicas = ("1 replica" if config.trainer_replica_count == 1
                else f"a chief + {config.trainer_replica_count - 1} workers")
    image = images["gpu"] if config.trainer_accelerator_count else images["cpu"]
    return (f"Vertex AI Training: {replicas}, each {config.trainer_machine_type}{accelerator}; "
            f"image {image}")


# ---------------------------------------------------------------------- submit, schedule
def pipeline_job_arguments(config: PipelineConfig, template: str | Path,
                           kind: PipelineKind = TRAINING) -> dict[str, Any]:
    """The `aiplatform.PipelineJob` arguments of one run of `kind` from `template`."""
    layout = CloudLayout.for_config(config)
    return {
        "display_name": kind.pipeline_name(config),
        "template_path": str(template),
        "pipeline_root": layout.pipeline_root,
        "enable_caching": config.vertex_enable_caching,
        "labels": {"pipeline": config.pipeline_name,
                   "variant": config.variant.replace("_", "-"), **config.vertex_labels},
        "project": config.gcp_project,
        "location": config.gcp_region,
    }


def pipeline_job(config: PipelineConfig, template_path: Path, credentials: Any = None,
                 kind: PipelineKind = TRAINING) -> Any:
    """The `aiplatform.PipelineJob` for a compiled template of `kind` (built offline, not
    yet sent)."""
    from google.cloud import aiplatform

    return aiplatform.PipelineJob(**pipeline_job_arguments(config, template_path, kind),
                                  credentials=credentials)


def submit(config: PipelineConfig, job: Any) -> None:
    """Starts one run of `job` on Vertex AI Pipelines."""
    job.submit(service_account=config.service_account or None)


def check_schedulable(config: PipelineConfig, kind: PipelineKind = TRAINING) -> None:
    """A schedule over a fixed BigQuery window would retrain on the same rows every time
    (a table to score is read whole each time)."""
    if kind.scores_rows:
        return
    if config.data_source == "bigquery" and not config.bigquery_window_days:
        raise ConfigError("A schedule needs a moving data window: set bigquery_window_days "
                          "(e.g. 30), or every scheduled run trains on the same dates.")


def schedule(config: PipelineConfig, job: Any, kind: PipelineKind = TRAINING) -> Any:
    """Creates the schedule: a run of `job` (a compiled pipeline of `kind`: retraining, or
    scoring) at each `schedule_cron` time."""
    check_schedulable(config, kind)
    return job.create_schedule(
        cron=config.schedule_cron,
        display_name=f"{config.pipeline_name}-{kind.schedule_name}",
        max_concurrent_run_count=1,
        service_account=config.service_account or None,
    )
