"""The Transform step's own materialization (pipeline/components/transform.py) against
tf.Transform's: the pipeline's data steps run on testdata (the taxi table: numeric,
bucketized and categorical features; the IMDB reviews: a text feature), then what TFX's
own Transform executor runs to materialize (tf.Transform's TransformDataset and TFX's
encode-and-write) on the same transform graph and raw examples, and both are read back."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf
from tfx.components.transform import executor as tfx_executor
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.types import artifact_utils, standard_artifacts

from pipeline.components.transform import (
    IN_PROCESS,
    MATERIALIZED_BY_PROPERTY,
    Executor,
    Materializer,
    NotMaterializedHere,
)
from pipeline.definition import FIT_SPLIT, STOP_SPLIT
from pipeline.metadata.store import custom_property
from pipeline.settings import EVAL_SPLIT

pytestmark = pytest.mark.e2e(minutes=0.4)


def _tfx_artifact(cls: type, mlmd_artifact) -> object:  # noqa: ANN001 - an MLMD proto
    artifact = cls()
    artifact.set_mlmd_artifact(mlmd_artifact)
    return artifact


def _records(uri: str, split: str) -> list[bytes]:
    files = sorted(tf.io.gfile.glob(f"{uri}/Split-{split}/*"))
    return [record.numpy() for record in tf.data.TFRecordDataset(files, "GZIP")]


def _deterministic(record: bytes) -> bytes:
    return tf.train.Example.FromString(record).SerializeToString(deterministic=True)


def _tf_transform_materializes(graph_uri: str, raw_pattern: str, target: str,
                               temp_dir: str) -> None:
    """What TFX's Transform executor runs to write a split's transformed examples, on a
    transform graph already made: tf.Transform's TransformDataset on the raw examples
    through tfx-bsl's TFXIO, then TFX's own encode-and-write transform."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tfx_bsl.public import tfxio

    output = tft.TFTransformOutput(graph_uri)
    source = tfxio.TFExampleRecord(file_pattern=raw_pattern,
                                   schema=output.raw_metadata.schema)
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=temp_dir,
                                                        force_tf_compat_v1=True):
        transform_fn = pipeline | tft_beam.ReadTransformFn(graph_uri)
        transformed, _ = (((pipeline | source.BeamSource()), source.TensorAdapterConfig()),
                          transform_fn) | tft_beam.TransformDataset(
                              output_record_batches=True)
        _ = transformed | tfx_executor.TransformProcessor._EncodeAndWrite(  # noqa: SLF001
            output.transformed_metadata.schema, "tfrecords_gzip",
            f"{target}/transformed_examples")


@pytest.fixture(scope="module", params=["taxi", "imdb"])
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The data steps' run (our executor), then tf.Transform's materialization of its
    transform graph on the same raw examples."""
    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.definition import create_pipeline
    from pipeline.kinds import DataOnly
    from pipeline.metadata.store import latest_run_context, open_store, run_executions
    from pipeline.settings.loading import load_config
    from pipeline.targets import local_target

    root = tmp_path_factory.mktemp(f"transform-{request.param}")
    config = load_config([f"--dataset={request.param}", f"--output_root={root}"],
                         environ={})
    store_path = root / "metadata.sqlite"
    target = local_target(str(root / "pipeline"), metadata_connection_config=
                          metadata.sqlite_metadata_connection_config(str(store_path)))
    LocalDagRunner().run(create_pipeline(config, target, DataOnly()))
    store = open_store(store_path)
    steps = {step.component: step for step in run_executions(
        store, latest_run_context(store, DataOnly.pipeline_name(config)).id)}
    transform = steps["Transform"]
    raw = _tfx_artifact(standard_artifacts.Examples, steps["ExampleGen"].output("Examples"))
    graph = transform.output("TransformGraph").uri
    theirs = str(root / "tf-transform")
    for split in (FIT_SPLIT, STOP_SPLIT):
        _tf_transform_materializes(graph, f"{raw.uri}/Split-{split}/*",
                                   f"{theirs}/Split-{split}", str(root / "tmp"))
    ours = transform.output("Examples")
    return {"raw": raw.uri, "ours": ours, "theirs": theirs, "graph": graph}


@pytest.mark.parametrize("split", [FIT_SPLIT, STOP_SPLIT])
def test_the_transformed_examples_are_tf_transforms(both: dict, split: str) -> None:
    ours = _records(both["ours"].uri, split)
    theirs = _records(both["theirs"], split)
    assert len(ours) == len(_records(both["raw"], split)) > 0
    # The same examples; the features' order inside each (a map) is not part of it.
    assert sorted(map(_deterministic, ours)) == sorted(map(_deterministic, theirs))


def test_batches_are_written_in_the_raw_splits_order(both: dict, tmp_path: Path) -> None:
    """The step wrote its split in one batch; in batches of 7, transformed on several
    threads, the same examples come in the same order (a seeded Trainer reads the same
    batches on every run)."""
    files = sorted(tf.io.gfile.glob(f"{both['raw']}/Split-{FIT_SPLIT}/*"))
    materializer = Materializer(both["graph"], batch_rows=7)
    try:
        assert materializer.write(files, str(tmp_path)) > 5 * 7
    finally:
        materializer.close()
    in_batches = [record.numpy() for record in tf.data.TFRecordDataset(
        sorted(tf.io.gfile.glob(f"{tmp_path}/*")), "GZIP")]
    assert list(map(_deterministic, in_batches)) == list(
        map(_deterministic, _records(both["ours"].uri, FIT_SPLIT)))
    # And the step's were written in its own process, not by tf.Transform's Beam pass.
    assert custom_property(both["ours"], MATERIALIZED_BY_PROPERTY) == IN_PROCESS


def test_only_the_splits_the_trainer_reads_are_transformed(both: dict) -> None:
    ours = _tfx_artifact(standard_artifacts.Examples, both["ours"])
    assert artifact_utils.decode_split_names(ours.split_names) == [FIT_SPLIT, STOP_SPLIT]
    assert sorted(path.name for path in Path(ours.uri).iterdir()) == [
        f"Split-{FIT_SPLIT}", f"Split-{STOP_SPLIT}"]
    assert [path.name for path in (Path(ours.uri) / f"Split-{FIT_SPLIT}").iterdir()] == [
        "transformed_examples-00000-of-00001.gz"]
    assert _records(both["raw"], EVAL_SPLIT)  # there, raw, for the Evaluator


@pytest.mark.parametrize(("arguments", "examples", "reason"), [
    (["--runner=DataflowRunner"], {}, "the Beam runner is DataflowRunner"),
    ([], {"file_format": "parquet"}, "the examples are not gzipped TFRecords"),
    ([], {"payload_format": "FORMAT_PARQUET"}, "the examples are not tf.Examples"),
])
def test_other_runners_and_formats_are_left_to_tf_transform(
        arguments: list[str], examples: dict[str, str], reason: str) -> None:
    raw = standard_artifacts.Examples()
    for key, value in examples.items():
        raw.set_string_custom_property(key, value)
    executor = Executor(BaseBeamExecutor.Context(beam_pipeline_args=arguments))
    with pytest.raises(NotMaterializedHere, match=reason):
        executor._check_materializable(  # noqa: SLF001 - the decision, without a run
            {"examples": [raw]}, {"transformed_examples": [standard_artifacts.Examples()]})


@pytest.mark.parametrize(("arguments", "local"), [
    ([], True), (["--runner=DirectRunner"], True), (["--runner=direct"], True),
    (["--direct_num_workers=2", "--runner=DataflowRunner"], False),
    (["--runner=SparkRunner"], False)])
def test_the_steps_that_work_in_process_agree_on_what_runs_locally(
        arguments: list[str], local: bool) -> None:
    """ExampleGen's writer, the Evaluator on arrays and Transform's materialization all
    ask pipeline/components/beam_runner.py."""
    from pipeline.components.beam_runner import runs_locally

    assert runs_locally(arguments) is local
