"""StatisticsGen: TFX's StatisticsGen (same input, output, options and files) whose
executor, on Beam's direct runner, computes the statistics in its own process.

Why our own executor: on a table of a few thousand rows, TFX's executor spent nearly all
of its 5 s building and starting a Beam pipeline of TFDV's transforms (testdata's three
splits: 1.4 s building it, 0.9 s starting it, 2.3 s running it), a fixed cost on every
run of every pipeline. Here each split is read by tfx-bsl's TFXIO as Arrow record
batches, and each batch is added into the accumulators of TFDV's own statistics
generators, the ones `tfdv.generate_statistics_in_memory` runs, which are then extracted
and written as the binary `FeatureStats.pb` of each split that TFX's writer names. Memory
holds one batch and the generators' sketches, whatever the table's size.

The statistics are TFDV's either way. TFDV's in-memory generators count the top values
with a sketch (Misra-Gries with 1,024 counters, exact below 1,024 distinct values; a KMV
sketch of 16,384 for distinct counts), where its Beam pipeline counts them exactly unless
told to sketch; so `StatisticsGen` tells both to sketch (`STATS_OPTIONS`), and a table
gets the same statistics on the direct runner and on Dataflow, to the order of a
floating-point sum (tests/test_statistics_gen.py). On any other runner, and for
any step this component did not build (a schema input, other statistics options,
excluded or sampled splits, sharded output), TFX's own executor runs unchanged and says so.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_data_validation.statistics.generators import stats_generator
from tfx import types
from tfx.components.statistics_gen import executor as tfx_executor
from tfx.components.util import examples_utils, tfxio_utils
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils, stats_utils
from tfx_bsl.tfxio import dataset_options

from pipeline.components.beam_runner import runner_of, runs_locally

logger = logging.getLogger(__name__)

CODE_KEY = "code"
# What every StatisticsGen of the pipelines computes, on any runner: top values sketched,
# as TFDV's in-memory generators always do (see above).
STATS_OPTIONS = tfdv.StatsOptions(use_sketch_based_topk_uniques=True)
# Rows per record batch: TFDV's Beam pipeline batches its input by up to 1,000 rows.
BATCH_ROWS = 1000


class NotComputedHere(Exception):
    """Why TFX's own executor computes this step's statistics."""


class Executor(tfx_executor.Executor):
    """TFX's StatisticsGen executor, computing in this process on the direct runner."""

    def Do(self, input_dict: dict[str, list[types.Artifact]],  # noqa: N802 - TFX's name
           output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]
           ) -> None:
        examples = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.EXAMPLES_KEY])
        try:
            self._check_in_process(input_dict, exec_properties, examples)
        except NotComputedHere as reason:
            logger.warning("StatisticsGen: %s; computing with TFDV's Beam pipeline", reason)
            super().Do(input_dict, output_dict, exec_properties)
            return
        splits = artifact_utils.decode_split_names(examples.split_names)
        if not splits:
            raise ValueError(f"No splits for examples artifact: {examples}")
        statistics = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.STATISTICS_KEY])
        # The properties TFX's executor gives the artifact.
        statistics.split_names = artifact_utils.encode_split_names(splits)
        statistics.span = examples.span
        statistics.set_string_custom_property(
            tfx_executor.STATS_DASHBOARD_LINK,
            stats_utils.generate_stats_dashboard_link(statistics))
        statistics.set_json_value_custom_property(
            tfx_executor.SAMPLE_RATE_BY_SPLIT_PROPERTY_NAME,
            json_utils.dumps(dict.fromkeys(splits, 1.0)))
        # Built and set up once (as TFDV's Beam combiner sets them up); each split starts
        # from fresh accumulators.
        generators = stats_impl.get_generators(STATS_OPTIONS, in_memory=True)
        for generator in generators:
            generator.setup()
        for split in splits:
            started = time.monotonic()
            tfxio = tfxio_utils.get_split_tfxio(examples=[examples], split=split,
                                                telemetry_descriptors=["StatisticsGen"])
            result = split_statistics(tfxio.RecordBatches(dataset_options.RecordBatchesOptions(
                batch_size=BATCH_ROWS, shuffle=False, num_epochs=1)), generators)
            output_uri = artifact_utils.get_split_uri(
                output_dict[standard_component_specs.STATISTICS_KEY], split)
            tf.io.gfile.makedirs(output_uri)
            with tf.io.gfile.GFile(os.path.join(output_uri, tfx_executor.DEFAULT_FILE_NAME),
                                   "wb") as handle:
                handle.write(result.SerializeToString())
            logger.info("StatisticsGen: statistics of %s %s examples in %.1f s, in this "
                        "process", f"{result.datasets[0].num_examples:,}", split,
                        time.monotonic() - started)

    def _check_in_process(self, input_dict: dict[str, list[types.Artifact]],
                          exec_properties: dict[str, Any], examples: types.Artifact) -> None:
        """NotComputedHere unless the step is exactly what `StatisticsGen` below builds
        (every split, no schema input, `STATS_OPTIONS`, no sampling, one file of statistics
        per split) on the direct runner over tf.Examples.
        Anything else goes to TFX's executor whole, rather than this path checking each
        option TFDV has: an option it does not know of could change the statistics
        silently (in memory, TFDV leaves out lift statistics without a word)."""
        if not runs_locally(self._beam_pipeline_args):
            raise NotComputedHere(f"the Beam runner is {runner_of(self._beam_pipeline_args)}")
        if examples_utils.get_payload_format(examples) != \
                example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE:
            raise NotComputedHere("the examples are not tf.Examples")
        if examples.has_custom_property(examples_utils.CUSTOM_SPLIT_PATTERN_PROPERTY_NAME):
            raise NotComputedHere("the examples name their splits by file pattern")
        if input_dict.get(standard_component_specs.SCHEMA_KEY):
            raise NotComputedHere("a schema is an input")
        if json_utils.loads(exec_properties.get(
                standard_component_specs.EXCLUDE_SPLITS_KEY, "null")):
            raise NotComputedHere("splits are excluded")
        if exec_properties.get(standard_component_specs.SHARDED_STATS_OUTPUT_KEY):
            raise NotComputedHere("sharded output is asked for")
        if json_utils.loads(exec_properties.get(
                standard_component_specs.SAMPLE_RATE_BY_SPLIT_KEY, "null")):
            raise NotComputedHere("splits are sampled")
        if exec_properties.get(standard_component_specs.STATS_OPTIONS_JSON_KEY) != \
                STATS_OPTIONS.to_json():
            raise NotComputedHere("the statistics options are not StatisticsGen's own")


def split_statistics(record_batches: Iterable[pa.RecordBatch],
                     generators: list[stats_generator.CombinerStatsGenerator]
                     ) -> tfdv.types.DatasetFeatureStatisticsList:
    """TFDV's statistics of a split's record batches: each batch added into fresh
    accumulators of TFDV's in-memory `generators`, then extracted as
    `tfdv.generate_statistics_in_memory` does."""
    accumulators = [generator.create_accumulator() for generator in generators]
    for record_batch in record_batches:
        accumulators = [generator.add_input(accumulator, record_batch)
                        for generator, accumulator in zip(generators, accumulators, strict=True)]
    return stats_impl.extract_statistics_output(accumulators, generators)


class StatisticsGenSpec(standard_component_specs.StatisticsGenSpec):
    """TFX's StatisticsGenSpec and the fingerprint of this step's code."""

    PARAMETERS = {**standard_component_specs.StatisticsGenSpec.PARAMETERS,
                  CODE_KEY: ExecutionParameter(type=str)}


class StatisticsGen(base_beam_component.BaseBeamComponent):
    """TFX's StatisticsGen (every split, no schema) with the executor above and
    `STATS_OPTIONS`; `code` is the fingerprint of this step's source, so that editing it
    computes the statistics again."""

    SPEC_CLASS = StatisticsGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, examples: types.BaseChannel, code: str) -> None:
        super().__init__(spec=StatisticsGenSpec(
            examples=examples, stats_options_json=STATS_OPTIONS.to_json(),
            exclude_splits=json_utils.dumps([]), code=code,
            statistics=types.Channel(type=standard_artifacts.ExampleStatistics)))
