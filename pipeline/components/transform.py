"""Transform: TFX's Transform (same inputs, outputs, analyzers and transform graph) whose
executor writes the transformed examples itself on Beam's direct runner.

Why our own executor: tf.Transform materializes on Beam, element by element: Beam's Python
TFRecord reader, a decode to Arrow per batch, the TF1 session and an encoder per batch of
at most 1,000 rows, Beam's writer. On 2 cores that pass was more than half of the step
(150,000 rows: 12.2 s in all, 6.5 s without materializing; docs/benchmarks.md, "Transform
throughput"). Here tf.Transform's own Beam pipeline still analyzes the data and writes
the transform graph, untouched; then each split named in `splits_config` is read by
tf.data (C++ reads), parsed and transformed by that transform graph in a TF1 session of
its own, as tf.Transform runs it, on batches of BATCH_ROWS, and encoded by the converter
and encoder tf.Transform's writer uses (tf.Transform's tensor-to-Arrow converter,
tfx-bsl's RecordBatchToExamplesEncoder) into the one file TFX's Beam writer would name
(`transformed_examples-00000-of-00001.gz`), in the raw split's order. The examples are
tf.Transform's, feature for feature (tests/test_transform.py). Batches are transformed on
one thread per core, a few ahead of the writer: 1.05M train rows in 5.7 s (14.5 s on one
thread at zlib's default level), the 1.5M-row step 43.6 -> 34.9 s.

On any other Beam runner (Dataflow: a table too big for one machine) and for inputs this
path does not read (more than one Examples artifact, not tf.Examples in gzipped
TFRecords), TFX's own executor runs unchanged and says so.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import collections
import itertools
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform import impl_helper
from tfx import types
from tfx.components import Transform as TfxTransform
from tfx.components.transform import executor as tfx_executor
from tfx.components.transform import executor_utils
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils
from tfx_bsl.coders import example_coder

from pipeline.components.beam_runner import runner_of, runs_locally

logger = logging.getLogger(__name__)

# The file name prefix TFX's Beam writer gives each split's transformed examples.
TRANSFORMED_PREFIX = "transformed_examples"
# Rows per batch through the transform graph: big enough that the per-batch cost (one
# graph call, one conversion to Arrow, one encoder call) is small beside the rows'.
BATCH_ROWS = 4096
# gzip at level 1: the same records, the file about 40% larger than at zlib's default
# level, written three times as fast (1.05M transformed rows: 2.1 s against 6.7 s of
# compressing) and read back about 0.2 s slower a pass (1.71-1.79 s against 1.51-1.56 s),
# less than the write saves over the Trainer's budget of about four passes.
WRITE_OPTIONS = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=1)


# On the transformed Examples: which path wrote them, for ML Metadata's readers.
MATERIALIZED_BY_PROPERTY = "materialized_by"
IN_PROCESS, BY_BEAM = "in_process", "tf_transform_beam"


class NotMaterializedHere(Exception):
    """Why TFX's own executor materializes this step's examples."""


class Materializer:
    """Writes transformed examples of raw tf.Examples with one transform graph."""

    def __init__(self, transform_graph_uri: str, batch_rows: int = BATCH_ROWS) -> None:
        output = tft.TFTransformOutput(transform_graph_uri)
        schema = output.transformed_metadata.schema
        self._converter = impl_helper.make_tensor_to_arrow_converter(schema)
        self._encoder = example_coder.RecordBatchToExamplesEncoder(schema)
        self._batch_rows = batch_rows
        # The transform graph in a graph and session of its own, as tf.Transform runs it:
        # loaded eagerly, its lookup tables would share their names with every other
        # transform graph this process loaded (a second dataset's text vocabulary found
        # the first dataset's table, and every token was out of vocabulary).
        graph = tf.Graph()
        with graph.as_default():
            records = tf.compat.v1.placeholder(tf.string, [None])
            outputs = output.transform_raw_features(
                tf.io.parse_example(records, output.raw_feature_spec()))
            initialize = tf.compat.v1.tables_initializer()
        self._session = tf.compat.v1.Session(graph=graph)
        self._session.run(initialize)
        self._names = sorted(outputs)
        self._run = self._session.make_callable([outputs[name] for name in self._names],
                                                feed_list=[records])

    def close(self) -> None:
        self._session.close()

    def _encoded(self, records: Any) -> list[bytes]:
        """The serialized transformed examples of one batch of serialized raw ones."""
        values = dict(zip(self._names, self._run(records), strict=True))
        return self._encoder.encode(self._converter.convert(values))

    def write(self, source_files: list[str], target_uri: str) -> int:
        """Writes the transformed examples of `source_files` (gzipped TFRecords of raw
        tf.Examples, read in order) to `target_uri`; returns how many.

        Batches are transformed and encoded on one thread per core (the session and the
        encoder release the GIL), a few batches ahead of the writer, which keeps their
        order; memory holds at most those batches."""
        batches = (tf.data.TFRecordDataset(source_files, compression_type="GZIP")
                   .batch(self._batch_rows).prefetch(2).as_numpy_iterator())
        tf.io.gfile.makedirs(target_uri)
        path = os.path.join(target_uri, f"{TRANSFORMED_PREFIX}-00000-of-00001.gz")
        written = 0
        threads = os.cpu_count() or 1
        with ThreadPoolExecutor(threads) as pool, \
                tf.io.TFRecordWriter(path, WRITE_OPTIONS) as out:
            pending: collections.deque = collections.deque()
            for records in itertools.chain(batches, [None]):
                if records is not None:
                    pending.append(pool.submit(self._encoded, records))
                while pending and (records is None or len(pending) > 2 * threads):
                    for example in pending.popleft().result():
                        out.write(example)
                        written += 1
        return written


class Executor(tfx_executor.Executor):
    """TFX's Transform executor, with the transformed examples written by a Materializer."""

    def Do(self, input_dict: dict[str, list[types.Artifact]],  # noqa: N802 - TFX's name
           output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]
           ) -> None:
        try:
            self._check_materializable(input_dict, output_dict)
        except NotMaterializedHere as reason:
            logger.warning("Transform: %s; materializing with tf.Transform's Beam pipeline",
                           reason)
            super().Do(input_dict, output_dict, exec_properties)
            for artifact in output_dict.get(
                    standard_component_specs.TRANSFORMED_EXAMPLES_KEY, []):
                artifact.set_string_custom_property(MATERIALIZED_BY_PROPERTY, BY_BEAM)
            return
        key = standard_component_specs.TRANSFORMED_EXAMPLES_KEY
        transformed = output_dict[key]
        super().Do(input_dict, {name: artifacts for name, artifacts in output_dict.items()
                                if name != key}, exec_properties)
        examples = input_dict[standard_component_specs.EXAMPLES_KEY]
        splits = executor_utils.ResolveSplitsConfig(
            exec_properties.get(standard_component_specs.SPLITS_CONFIG_KEY), examples)
        executor_utils.SetSplitNames(splits.transform, transformed)
        for artifact in transformed:
            artifact.set_string_custom_property(MATERIALIZED_BY_PROPERTY, IN_PROCESS)
        graph_uri = artifact_utils.get_single_uri(
            output_dict[standard_component_specs.TRANSFORM_GRAPH_KEY])
        materializer = Materializer(graph_uri)
        try:
            for split in splits.transform:
                [source] = artifact_utils.get_split_uris(examples, split)
                [target] = artifact_utils.get_split_uris(transformed, split)
                files = sorted(tf.io.gfile.glob(io_utils.all_files_pattern(source)))
                started = time.monotonic()
                rows = materializer.write(files, target)
                logger.info("Transform: %s %s examples transformed on whole batches in "
                            "%.1f s, to %s", f"{rows:,}", split, time.monotonic() - started,
                            target)
        finally:
            materializer.close()

    def _check_materializable(self, input_dict: dict[str, list[types.Artifact]],
                              output_dict: dict[str, list[types.Artifact]]) -> None:
        """NotMaterializedHere when TFX's executor must write the examples."""
        if not output_dict.get(standard_component_specs.TRANSFORMED_EXAMPLES_KEY):
            raise NotMaterializedHere("no transformed examples asked for")
        if not runs_locally(self._beam_pipeline_args):
            # One process writes the examples here (pipeline/components/beam_runner.py).
            raise NotMaterializedHere(
                f"the Beam runner is {runner_of(self._beam_pipeline_args)}")
        examples = input_dict[standard_component_specs.EXAMPLES_KEY]
        if len(examples) != 1:
            raise NotMaterializedHere(f"{len(examples)} Examples artifacts")
        if examples_utils.get_payload_format(examples[0]) != \
                example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE:
            raise NotMaterializedHere("the examples are not tf.Examples")
        if examples_utils.get_file_format(examples[0]) != "tfrecords_gzip":
            raise NotMaterializedHere("the examples are not gzipped TFRecords")


class Transform(TfxTransform):
    """TFX's Transform with the executor above (same parameters, same artifacts)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
