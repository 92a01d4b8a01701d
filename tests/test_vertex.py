"""The Vertex AI pipeline: compiled offline and checked in its JSON, plus submission up to the
`aiplatform` call boundary (no network reaches Google here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform

import vertex_runner
from pipeline import cli
from pipeline.kinds import Scoring
from pipeline.orchestration import vertex
from pipeline.settings import PipelineConfig
from pipeline.settings.bigquery import bigquery_query
from pipeline.settings.loading import load_config
from pipeline.settings.values import ConfigError
from tests.configs import VERTEX_TASKS

CLOUD = ("--gcp_project=tipper-project", "--gcs_root=gs://tipper-bucket/tfx",
         "--service_account=trainer@tipper-project.iam.gserviceaccount.com",
         "--vertex_labels={\"team\": \"ranking\"}")
EXPECTED_TASKS = VERTEX_TASKS


def cloud_config(*flags: str, output_root: Path | None = None) -> PipelineConfig:
    extra = (f"--output_root={output_root}",) if output_root else ()
    return load_config(["--variant=vertex", *CLOUD, *extra, *flags], environ={})


def parameter(task: dict[str, Any], name: str) -> Any:
    """A task's constant input parameter, JSON-decoded when it holds JSON."""
    value = task["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]
    text = value.get("stringValue", value.get("intValue"))
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return text


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineConfig, dict, Path]:
    """The `vertex` variant with a chief plus two workers, compiled once for this module."""
    output_root = tmp_path_factory.mktemp("vertex")
    config = cloud_config("--trainer_replica_count=3", "--serving_traffic_percent=20",
                          output_root=output_root)
    template = output_root / "pipeline.json"
    spec = vertex.compile_pipeline(config, template)
    return config, spec, template


def tasks_of(spec: dict) -> dict[str, dict]:
    return spec["pipelineSpec"]["root"]["dag"]["tasks"]


def executor_of(spec: dict, task_name: str) -> dict:
    pipeline_spec = spec["pipelineSpec"]
    component = tasks_of(spec)[task_name]["componentRef"]["name"]
    label = pipeline_spec["components"][component]["executorLabel"]
    return pipeline_spec["deploymentSpec"]["executors"][label]


def container_of(spec: dict, task_name: str) -> dict:
    return executor_of(spec, task_name)["container"]


def executor_class(spec: dict, task_name: str) -> str:
    arguments = container_of(spec, task_name)["args"]
    return arguments[arguments.index("--executor_class_path") + 1]


def test_every_task_runs_the_entry_point_that_a_dry_run_warms_up(compiled: tuple) -> None:
    """`vertex_runner.py dry-run` starts its fork server on `VERTEX_TASK_ENTRY_POINT`
    before it compiles; every container task's command must be that module."""
    _, spec, _ = compiled
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"].values()
    commands = {tuple(executor["container"]["command"]) for executor in executors
                if "container" in executor}
    assert commands == {("python", "-m", cli.VERTEX_TASK_ENTRY_POINT)}


def test_compiled_graph_has_every_component_in_order(compiled: tuple) -> None:
    _, spec, template = compiled
    assert json.loads(template.read_text()) == spec
    tasks = tasks_of(spec)
    assert set(tasks) == EXPECTED_TASKS
    assert set(tasks["Transform"]["dependentTasks"]) >= {"DataAnomalyGate", "ExampleGen"}
    assert set(tasks["Trainer"]["dependentTasks"]) >= {"Transform", "ImportCuratedSchema"}
    assert set(tasks["Pusher"]["dependentTasks"]) == {"Evaluator", "ServingSandbox", "Trainer"}
    assert "Pusher" in tasks["ModelReportGen"]["dependentTasks"]
    assert spec["displayName"] == "big-tipper"
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == \
        "gs://tipper-bucket/tfx/pipeline_root/big-tipper"


def test_example_gen_runs_the_generated_query_and_is_never_cached(compiled: tuple) -> None:
    config, spec, _ = compiled
    example_gen = tasks_of(spec)["ExampleGen"]
    [split] = parameter(example_gen, "input_config")["splits"]
    assert split["pattern"] == bigquery_query(config)
    assert "INTERVAL 30 DAY" in split["pattern"] and "CURRENT_TIMESTAMP()" in split["pattern"]
    assert executor_class(spec, "ExampleGen") == \
        "pipeline.components.bigquery_example_gen.BigQueryExecutor"
    # The moving window's query text never changes, so a cache hit would be stale data.
    assert "cachingOptions" not in example_gen
    assert tasks_of(spec)["Transform"]["cachingOptions"] == {"enableCache": True}


def test_a_search_runs_parallel_trials_on_vertex_training(tmp_path: Path) -> None:
    config = cloud_config("--hyperparameter_search=bayesian", "--search_parallel_trials=3",
                          output_root=tmp_path)
    spec = vertex.compile_pipeline(config, tmp_path / "pipeline.json")
    tasks = tasks_of(spec)
    assert "Tuner" in tasks["Trainer"]["dependentTasks"]
    assert "Tuner" in tasks["ModelReportGen"]["dependentTasks"]
    assert executor_class(spec, "Tuner") == \
        "tfx.extensions.google_cloud_ai_platform.tuner.executor.Executor"
    assert parameter(tasks["Tuner"], "tune_args") == {"num_parallel_trials": 3}
    custom_config = parameter(tasks["Tuner"], "custom_config")
    assert custom_config["tuner_settings"]["hyperparameter_search"] == "bayesian"
    [pool] = custom_config["ai_platform_tuning_args"]["job_spec"]["worker_pool_specs"]
    assert pool["replica_count"] == 1
    assert pool["machine_spec"]["accelerator_type"] == "NVIDIA_TESLA_T4"
    assert "Tuner" in vertex.describe(config, spec) and "3 at once" in vertex.describe(config,
                                                                                      spec)


def test_fixed_window_keeps_example_gen_cacheable(tmp_path: Path) -> None:
    config = cloud_config("--bigquery_window_days=0", output_root=tmp_path)
    spec = vertex.compile_pipeline(config, tmp_path / "pipeline.json")
    assert tasks_of(spec)["ExampleGen"]["cachingOptions"] == {"enableCache": True}
    assert "TIMESTAMP('2019-01-01')" in parameter(tasks_of(spec)["ExampleGen"],
                                                   "input_config")["splits"][0]["pattern"]


def test_beam_steps_run_on_dataflow_in_the_pipeline_image(compiled: tuple) -> None:
    config, spec, _ = compiled
    cpu_image = vertex.image_uris(config)["cpu"]
    for name in ("ExampleGen", "StatisticsGen", "Transform", "Evaluator"):
        arguments = container_of(spec, name)["args"]
        assert {
            "--runner=DataflowRunner", "--project=tipper-project", "--region=us-central1",
            "--temp_location=gs://tipper-bucket/tfx/tmp", "--machine_type=n1-standard-4",
            "--max_num_workers=4", f"--sdk_container_image={cpu_image}",
            "--service_account_email=trainer@tipper-project.iam.gserviceaccount.com",
        } <= set(arguments), name


def test_direct_runner_arguments_when_dataflow_is_off(tmp_path: Path) -> None:
    config = cloud_config("--beam_runner=direct", "--beam_direct_running_mode=multi_processing",
                          "--beam_direct_num_workers=4", output_root=tmp_path)
    arguments = vertex.beam_pipeline_args(config, vertex.CloudLayout.for_config(config))
    assert "--runner=DataflowRunner" not in arguments
    assert {"--direct_running_mode=multi_processing", "--direct_num_workers=4",
            "--temp_location=gs://tipper-bucket/tfx/tmp",
            f"--sdk_container_image={vertex.image_uris(config)['cpu']}"} <= set(arguments)


def test_every_step_runs_in_the_image_scripts_build_images_builds(
        compiled: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    config, spec, _ = compiled
    assert vertex_runner.main(["images", "--variant=vertex", *CLOUD]) == 0
    printed = dict(line.split(" ", 1) for line in capsys.readouterr().out.splitlines())
    assert set(printed) == {"cpu", "gpu"}
    for kind in printed:  # scripts/build-images builds docker/<kind>.Dockerfile
        assert (vertex.REPOSITORY_ROOT / "docker" / f"{kind}.Dockerfile").is_file()
    images = {container_of(spec, name)["image"] for name in tasks_of(spec)
              if "container" in executor_of(spec, name)}
    assert images == {printed["cpu"]}
    assert printed["cpu"].startswith("us-central1-docker.pkg.dev/tipper-project/big-tipper/cpu:")
    assert printed["cpu"].rsplit(":", 1)[1] == vertex.image_tag()


def test_trainer_runs_on_vertex_training_with_chief_and_workers(compiled: tuple) -> None:
    config, spec, _ = compiled
    assert executor_class(spec, "Trainer") == \
        "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"
    custom_config = parameter(tasks_of(spec)["Trainer"], "custom_config")
    assert custom_config["ai_platform_enable_vertex"] is True
    assert custom_config["ai_platform_vertex_region"] == "us-central1"
    assert custom_config["training_settings"]["architecture"] == config.architecture
    training = custom_config["ai_platform_training_args"]
    assert training["project"] == "tipper-project"
    assert training["job_spec"]["service_account"] == config.service_account
    chief, workers = training["job_spec"]["worker_pool_specs"]
    gpu_image = vertex.image_uris(config)["gpu"]
    for pool, replicas in ((chief, 1), (workers, 2)):
        assert pool == {
            "replica_count": replicas,
            "machine_spec": {"machine_type": "n1-standard-8",
                             "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1},
            "container_spec": {"image_uri": gpu_image},
        }


def test_cpu_training_uses_the_cpu_image_and_one_pool() -> None:
    config = cloud_config("--trainer_accelerator_type=", "--trainer_accelerator_count=0",
                          "--trainer_machine_type=n1-highmem-16")
    [pool] = vertex.vertex_training_config(config)["ai_platform_training_args"][
        "job_spec"]["worker_pool_specs"]
    assert pool == {"replica_count": 1, "machine_spec": {"machine_type": "n1-highmem-16"},
                    "container_spec": {"image_uri": vertex.image_uris(config)["cpu"]}}


def test_pusher_deploys_to_an_endpoint_beside_the_current_model(compiled: tuple) -> None:
    _, spec, _ = compiled
    assert executor_class(spec, "Pusher") == \
        "pipeline.components.vertex_pusher.SandboxedVertexPushExecutor"
    custom_config = parameter(tasks_of(spec)["Pusher"], "custom_config")
    assert custom_config["ai_platform_vertex_container_image_uri"] == \
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    assert custom_config["ai_platform_serving_args"] == {
        "project_id": "tipper-project", "endpoint_name": "big-tipper",
        "machine_type": "n1-standard-2", "min_replica_count": 1, "max_replica_count": 2,
        "traffic_percentage": 20,
    }
    assert set(tasks_of(spec)["Pusher"]["inputs"]["artifacts"]) == {
        "model", "model_blessing", "infra_blessing"}


def test_pusher_can_copy_to_gcs_instead(tmp_path: Path) -> None:
    config = cloud_config("--push_destination=filesystem", output_root=tmp_path)
    spec = vertex.compile_pipeline(config, tmp_path / "pipeline.json")
    assert executor_class(spec, "Pusher") == \
        "pipeline.components.atomic_pusher.ObjectStorePushExecutor"
    destination = parameter(tasks_of(spec)["Pusher"], "push_destination")
    assert destination == {"filesystem": {"base_directory":
                                          "gs://tipper-bucket/tfx/serving/big-tipper"}}


def test_summary_says_what_runs_where(compiled: tuple) -> None:
    config, spec, _ = compiled
    summary = vertex.describe(config, spec)
    assert "project tipper-project, region us-central1" in summary
    assert "BigQuery bigquery-public-data.chicago_taxi_trips.taxi_trips, the 30 days " \
        "before each run, 10% sample" in summary
    assert "a chief + 2 workers, each n1-standard-8 + 1x NVIDIA_TESLA_T4" in summary
    assert "Beam on Dataflow (n1-standard-4, up to 4 workers)" in summary
    assert "Vertex AI endpoint 'big-tipper' (n1-standard-2, 1-2 replicas, 20% of traffic)" \
        in summary
    lines = [line.split()[0] for line in summary.splitlines() if line.startswith("    ")]
    assert lines.index("ExampleGen") < lines.index("Transform") < lines.index("Trainer") \
        < lines.index("Evaluator") < lines.index("Pusher")


@pytest.mark.parametrize(("flags", "message"), [
    (("--gcp_project=",), "gcp_project is not set"),
    (("--gcp_project=Tipper_Project",), "gcp_project='Tipper_Project' is not a project id"),
    (("--gcp_region=",), "gcp_region is not set"),
    (("--gcs_root=",), "gcs_root is not set"),
    (("--gcs_root=/tmp/tfx",), "gcs_root='/tmp/tfx' is not a gs:// path"),
    (("--gcs_root=s3://bucket/tfx",), "gcs_root='s3://bucket/tfx' is not a gs:// path"),
    (("--trainer_accelerator_type=NVIDIA_GTX_1080",),
     "trainer_accelerator_type='NVIDIA_GTX_1080' is not a Vertex AI accelerator"),
    (("--trainer_accelerator_type=", "--trainer_accelerator_count=2"),
     "trainer_accelerator_count=2 needs trainer_accelerator_type"),
    (("--trainer_accelerator_count=0",), "trainer_accelerator_type=NVIDIA_TESLA_T4 needs "
                                         "trainer_accelerator_count"),
    (("--trainer_replica_count=0",), "trainer_replica_count must be at least 1"),
    (("--serving_traffic_percent=0",), "serving_traffic_percent must be between 1 and 100"),
    (("--serving_min_replicas=3",), "serving_max_replicas=2 is below serving_min_replicas=3"),
    (("--schedule_cron=every monday",), "schedule_cron='every monday' is not a cron"),
    (("--vertex_labels={\"Team\": \"x\"}",), "vertex_labels: Team='x' is not a valid label"),
    (("--service_account=trainer",), "service_account='trainer' is not a service account"),
    (("--container_image=my image",), "container_image='my image' is not an image reference"),
    (("--data_source=file",), "data_path='testdata/taxi_trips.jsonl' is on this machine"),
])
def test_bad_cloud_settings_fail_before_compiling(flags: tuple[str, ...], message: str,
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        vertex.validate_cloud(cloud_config(*flags))
    assert vertex_runner.main(["compile", "--variant=vertex", *CLOUD,
                               f"--output_root={tmp_path}", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "vertex").exists()


def test_unknown_runner_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert vertex_runner.main(["deploy"]) == 2
    assert "Unknown command 'deploy'" in capsys.readouterr().err


def test_pipeline_job_carries_root_labels_and_caching(compiled: tuple) -> None:
    config, _, template = compiled
    job = vertex.pipeline_job(config, template, credentials=AnonymousCredentials())
    resource = job._gca_resource
    assert resource.display_name == "big-tipper"
    assert dict(resource.labels) == {"pipeline": "big-tipper", "variant": "vertex",
                                     "team": "ranking"}
    assert resource.runtime_config.gcs_output_directory == \
        "gs://tipper-bucket/tfx/pipeline_root/big-tipper"
    assert job.project == "tipper-project" and job.location == "us-central1"
    tasks = resource.pipeline_spec["root"]["dag"]["tasks"]
    assert tasks["Transform"]["cachingOptions"]["enableCache"] is True


def test_submit_and_schedule_reach_aiplatform_with_the_settings(
        compiled: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    config, _, template = compiled
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(aiplatform.PipelineJob, "submit",
                        lambda self, **kwargs: calls.append(("submit", kwargs)))
    monkeypatch.setattr(aiplatform.PipelineJob, "create_schedule",
                        lambda self, **kwargs: calls.append(("schedule", kwargs)))
    job = vertex.pipeline_job(config, template, credentials=AnonymousCredentials())
    vertex.submit(config, job)
    vertex.schedule(config, job)
    assert calls == [
        ("submit", {"service_account": config.service_account}),
        ("schedule", {"cron": "0 6 * * 1", "display_name": "big-tipper-retraining",
                      "max_concurrent_run_count": 1,
                      "service_account": config.service_account}),
    ]


def test_schedule_refuses_a_fixed_data_window(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="A schedule needs a moving data window"):
        vertex.check_schedulable(cloud_config("--bigquery_window_days=0"))
    assert vertex_runner.main(["schedule", "--variant=vertex", *CLOUD,
                               "--bigquery_window_days=0", f"--output_root={tmp_path}"]) == 2
    assert "bigquery_window_days" in capsys.readouterr().err
    assert not (tmp_path / "vertex").exists()


def test_the_serving_sandbox_runs_in_the_pipeline_image_before_the_push(
        compiled: tuple) -> None:
    config, spec, _ = compiled
    sandbox = tasks_of(spec)["ServingSandbox"]
    assert container_of(spec, "ServingSandbox")["image"] == vertex.image_uris(config)["cpu"]
    assert set(sandbox["inputs"]["artifacts"]) == {"model", "model_blessing", "examples"}
    settings = parameter(sandbox, "settings")
    assert settings["max_latency_p99_ms"] == config.max_latency_p99_ms
    assert settings["sandbox_seconds"] == config.sandbox_seconds
    pusher_inputs = tasks_of(spec)["Pusher"]["inputs"]["artifacts"]
    assert pusher_inputs["infra_blessing"]["taskOutputArtifact"] == {
        "outputArtifactKey": "blessing", "producerTask": "ServingSandbox"}


SCORING = ("--scoring_bigquery_table=tipper-project.rides.to_score",
           "--key_columns=unique_key", "--passthrough_columns=taxi_id",
           "--predictions_bigquery_table=tipper-project.rides.predictions")


def test_the_scoring_pipeline_reads_and_writes_bigquery_on_dataflow(tmp_path: Path) -> None:
    from pipeline.settings.bigquery import scoring_query

    config = cloud_config(*SCORING, output_root=tmp_path)
    template = vertex.template_path(config, Scoring())
    spec = vertex.compile_pipeline(config, template, Scoring())
    assert json.loads(template.read_text()) == spec
    tasks = tasks_of(spec)
    assert set(tasks) == {"ScoringExampleGen", "LatestBlessedModelResolver-model-resolver",
                          "LatestBlessedModelResolver-model-blessing-resolver",
                          "BatchScorer"}
    assert spec["displayName"] == "big-tipper-scoring"
    [split] = parameter(tasks["ScoringExampleGen"], "input_config")["splits"]
    assert split["pattern"] == scoring_query(config)
    assert "FROM `tipper-project.rides.to_score`" in split["pattern"]
    assert "big_tipper" not in split["pattern"]  # no label: the rows need none
    assert "CAST(unique_key AS STRING) AS unique_key" in split["pattern"]
    for name in ("ScoringExampleGen",):
        assert {"--runner=DataflowRunner", "--project=tipper-project"} <= set(
            container_of(spec, name)["args"]), name
    assert set(tasks["BatchScorer"]["inputs"]["artifacts"]) == {"examples", "model"}
    writer = parameter(tasks["BatchScorer"], "settings")
    assert writer["predictions_bigquery_table"] == "tipper-project.rides.predictions"
    assert writer["key_columns"] == ["unique_key"] and writer["task"] == "binary"
    summary = vertex.describe(config, spec)
    assert "BigQuery tipper-project.rides.to_score, every row, to score" in summary
    assert "appended to BigQuery tipper-project.rides.predictions" in summary


def test_the_scoring_pipeline_can_be_scheduled(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}

    def create_schedule(self: Any, **arguments: Any) -> Any:  # noqa: ANN401
        calls.update(arguments)
        return type("Schedule", (), {"resource_name": "schedules/1"})()

    monkeypatch.setattr(aiplatform.PipelineJob, "create_schedule", create_schedule)
    config = cloud_config(*SCORING, output_root=tmp_path)
    template = vertex.template_path(config, Scoring())
    vertex.compile_pipeline(config, template, Scoring())
    job = vertex.pipeline_job(config, template, credentials=AnonymousCredentials(),
                              kind=Scoring())
    assert job._gca_resource.display_name == "big-tipper-scoring"
    vertex.schedule(config, job, Scoring())
    assert calls["display_name"] == "big-tipper-scoring"
    assert calls["cron"] == config.schedule_cron


def test_scoring_needs_a_table_to_score(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="scoring_bigquery_table is empty"):
        vertex.compile_pipeline(cloud_config(output_root=tmp_path), tmp_path / "s.json",
                                Scoring())



def test_our_artifact_types_are_found_on_vertex_by_their_titles(compiled: tuple) -> None:
    """Vertex's executor entry point imports an artifact's class by its schema title, and a
    resolver finds artifacts by it: both must name our own types (TFX's compiler writes
    "tfx.Artifact" into a resolver's query for them)."""
    from tfx.utils.import_utils import import_class_by_path

    from pipeline.components.anomaly_gate import AcceptedStatistics
    from pipeline.components.batch_scorer import Predictions
    from pipeline.components.model_report import ModelReport

    for artifact_type in (AcceptedStatistics, ModelReport, Predictions):
        assert import_class_by_path(artifact_type.TYPE_NAME) is artifact_type
    _, spec, _ = compiled
    executor = spec["pipelineSpec"]["deploymentSpec"]["executors"][
        "LastAcceptedStatisticsResolver_executor"]
    assert executor["resolver"]["outputArtifactQueries"]["statistics"]["filter"] == \
        'schema_title="pipeline.AcceptedStatistics" AND state=LIVE'
