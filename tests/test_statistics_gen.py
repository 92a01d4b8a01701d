"""StatisticsGen's in-process executor against TFX's Beam executor on the same examples."""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import unittest
from pathlib import Path

import pytest
import tensorflow as tf
from tensorflow.python.util.protobuf import compare
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.components.statistics_gen import executor as tfx_executor
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from pipeline.components.statistics_gen import STATS_OPTIONS, Executor
from pipeline.settings.loading import validate
from tests.configs import taxi_config
from tests.helpers import sample_rows, serialized_examples

SPLITS = ("train", "eval")


def _example(row: int, rng: random.Random) -> bytes:
    """A row with a float (missing as an empty list every 7th row), a string of over 1,024
    distinct values (absent every 11th row): a few frequent ones and many seen once, and
    an int."""
    example = tf.train.Example()
    features = example.features.feature
    if row % 7:
        features["amount"].float_list.value.append(rng.gauss(10.0, 3.0))
    else:
        features["amount"].float_list.SetInParent()
    if row % 11:
        customer = f"c{int(rng.paretovariate(1.0))}" if rng.random() < 0.6 else f"u{row}"
        features["customer"].bytes_list.value.append(customer.encode())
    features["count"].int64_list.value.append(row % 13)
    return example.SerializeToString()


def _examples_artifact(directory: Path, records: dict[str, list[bytes]]
                       ) -> standard_artifacts.Examples:
    artifact = standard_artifacts.Examples()
    artifact.uri = str(directory)
    artifact.split_names = artifact_utils.encode_split_names(list(records))
    for split, split_records in records.items():
        split_directory = artifact_utils.get_split_uri([artifact], split)
        os.makedirs(split_directory)
        with tf.io.TFRecordWriter(os.path.join(split_directory, "data.gz"),
                                  tf.io.TFRecordOptions(compression_type="GZIP")) as out:
            for record in split_records:
                out.write(record)
    return artifact


def _statistics(executor: BaseBeamExecutor, examples: standard_artifacts.Examples,
                directory: Path, **exec_properties: str
                ) -> tuple[standard_artifacts.ExampleStatistics, dict]:
    """The statistics artifact `executor` wrote, and its statistics by split."""
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(directory)
    executor.Do({standard_component_specs.EXAMPLES_KEY: [examples]},
                {standard_component_specs.STATISTICS_KEY: [statistics]},
                {standard_component_specs.STATS_OPTIONS_JSON_KEY: STATS_OPTIONS.to_json(),
                 standard_component_specs.EXCLUDE_SPLITS_KEY: json_utils.dumps([]),
                 **exec_properties})
    return statistics, {split: statistics_pb2.DatasetFeatureStatisticsList.FromString(
        Path(artifact_utils.get_split_uri([statistics], split),
             tfx_executor.DEFAULT_FILE_NAME).read_bytes()) for split in SPLITS}


def _by_feature(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> dict:
    [dataset] = statistics.datasets
    return {feature.path.step[0]: feature for feature in dataset.features}


def _assert_close(ours: statistics_pb2.FeatureNameStatistics,
                  theirs: statistics_pb2.FeatureNameStatistics) -> None:
    """Equal protos, floats within the rounding of a sum taken in another order
    (TensorFlow's proto comparison, on copies: it writes the expected floats into the
    actual proto where they are close)."""
    compare.assertProtoEqual(unittest.TestCase(), copy.deepcopy(theirs), copy.deepcopy(ours),
                             relative_tolerance=1e-9)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Each executor's statistics of testdata's rows and of 4,000 synthetic ones."""
    directory = tmp_path_factory.mktemp("statistics")
    rng = random.Random(7)
    config = validate(taxi_config())
    rows = sample_rows()
    records = {"train": serialized_examples(config, rows[:1500]),
               "eval": serialized_examples(config, rows[1500:])}
    synthetic = [_example(row, rng) for row in range(4000)]
    results, handler = {}, _Recorder()
    logger = logging.getLogger("pipeline.components.statistics_gen")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    for name, split_records in (("testdata", records),
                                ("synthetic", {"train": synthetic, "eval": synthetic[:500]})):
        examples = _examples_artifact(directory / name / "examples", split_records)
        context = BaseBeamExecutor.Context(beam_pipeline_args=["--runner=DirectRunner"],
                                           tmp_dir=str(directory / name / "tmp"))
        results[name] = {
            "ours": _statistics(Executor(context), examples, directory / name / "ours"),
            "tfx": _statistics(tfx_executor.Executor(context), examples,
                               directory / name / "tfx")}
    logger.removeHandler(handler)
    logger.level = level
    results["said"] = handler.messages
    return results


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_testdata_statistics_are_tfx_beam_statistics(both: dict) -> None:
    """Every field of every feature, to the rounding of the sums, and the artifact's
    properties as TFX's executor sets them."""
    (ours_artifact, ours), (tfx_artifact, theirs) = both["testdata"]["ours"], \
        both["testdata"]["tfx"]
    # Computed in this process for both data sets, not by falling back to TFX's executor.
    assert [message.split(" in ")[0] for message in both["said"]] == [
        "StatisticsGen: statistics of 1,500 train examples",
        "StatisticsGen: statistics of 455 eval examples",
        "StatisticsGen: statistics of 4,000 train examples",
        "StatisticsGen: statistics of 500 eval examples"], both["said"]
    for split in SPLITS:
        assert ours[split].datasets[0].num_examples == theirs[split].datasets[0].num_examples
        assert ours[split].datasets[0].num_examples > 400
        mine, other = _by_feature(ours[split]), _by_feature(theirs[split])
        assert mine.keys() == other.keys() and len(mine) > 10
        for name in mine:
            _assert_close(mine[name], other[name])
    assert ours_artifact.split_names == tfx_artifact.split_names
    assert ours_artifact.span == tfx_artifact.span
    for key in (tfx_executor.STATS_DASHBOARD_LINK,
                tfx_executor.SAMPLE_RATE_BY_SPLIT_PROPERTY_NAME):
        assert ours_artifact.get_custom_property(key) == tfx_artifact.get_custom_property(key)


def test_missing_values_and_a_sketched_string_match_tfx(both: dict) -> None:
    """Empty lists and absent features count as TFX's do; a string with more distinct
    values than the sketch's counters keeps its frequent values, counts and ranks."""
    ours, theirs = both["synthetic"]["ours"][1]["train"], both["synthetic"]["tfx"][1]["train"]
    mine, other = _by_feature(ours), _by_feature(theirs)
    for name in ("amount", "count"):
        _assert_close(mine[name], other[name])
    customer, reference = mine["customer"].string_stats, other["customer"].string_stats
    assert customer.common_stats == reference.common_stats
    assert customer.common_stats.num_missing == 4000 // 11 + 1
    assert customer.unique == reference.unique > 1024
    top = [(value.value, value.frequency) for value in customer.top_values[:10]]
    assert top == [(value.value, value.frequency) for value in reference.top_values[:10]]
    assert top[0][0] == "c1" and top[0][1] > 1000


def test_a_step_it_did_not_build_goes_to_tfx_beam_executor(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Sampled splits: TFX's executor records each split's rate, where this path would
    record 1.0 for every split."""
    config = validate(taxi_config())
    examples = _examples_artifact(tmp_path / "examples", {
        split: serialized_examples(config, sample_rows(40)) for split in SPLITS})
    context = BaseBeamExecutor.Context(beam_pipeline_args=[], tmp_dir=str(tmp_path / "tmp"))
    with caplog.at_level(logging.INFO):
        artifact, statistics = _statistics(
            Executor(context), examples, tmp_path / "sampled",
            sample_rate_by_split=json_utils.dumps({"train": 0.5}))
    assert "StatisticsGen: splits are sampled; computing with TFDV's Beam pipeline" \
        in caplog.text
    assert json.loads(artifact.get_json_value_custom_property(
        tfx_executor.SAMPLE_RATE_BY_SPLIT_PROPERTY_NAME)) == {"train": 0.5, "eval": 1.0}
    assert statistics["eval"].datasets[0].num_examples == 40
