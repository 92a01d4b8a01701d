"""Every vocabulary a preprocessing function asks for, from one tf.Transform analyzer.

tf.Transform's `compute_and_apply_approximate_vocabulary` packs each feature's Misra-Gries
combiner into one pass, but gives every vocabulary its own Beam stages to order and write
its file (`WriteToText` and the transforms around it), which Transform builds, pickles and
runs on every run whatever the data's size: on a wide table most of its time
(docs/benchmarks.md#transform-fixed-cost has the profile). Here one
`tft.experimental.ptransform_analyzer` counts every feature with the same sketch
tf.Transform uses (tfx_bsl's `MisraGriesSketch`, ties in reverse lexicographical order,
each batch reduced to its distinct values and counts in the graph first) in one Beam
combine, and one step writes all the files. The vocabularies are the same files under the
same names (`vocab_filename` = the feature's name, sanitized as tf.Transform does),
registered in the transform graph's asset map, so `TFTransformOutput.vocabulary_file_by_name`
and serving read them unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform import analyzers as tft_analyzers
from tfx_bsl import sketches

# What tf.Transform writes for a vocabulary with no values (so that the lookup table still
# initializes), the values a text vocabulary file cannot hold (the empty string and any
# with a line break), and how it names a vocabulary's file: its own definitions, so that
# the files stay the same as its approximate vocabulary's across its upgrades.
EMPTY_VOCABULARY_TOKEN: bytes = tft_analyzers.get_empy_vocabulary_dummy_value(tf.string)[1]
_UNWRITABLE: str = tft_analyzers.get_vocab_newline_characters_regex(tf.string, "text")


def vocabulary_filename(name: str) -> str:
    """The file name tf.Transform gives `vocab_filename=name`."""
    return tft_analyzers.sanitized_vocab_filename(name)


def apply_vocabularies(values: Mapping[str, tf.Tensor | tf.RaggedTensor], top_k: Mapping[str, int],
                       num_oov_buckets: int) -> dict[str, tf.Tensor]:
    """Vocabulary ids of each feature's `values` (a tf.string Tensor or RaggedTensor):
    the `top_k[name]` most frequent values of the analyzed data get 0, 1, ... by decreasing
    frequency, other values one of `num_oov_buckets` hashed ids after them, exactly as
    `tft.experimental.compute_and_apply_approximate_vocabulary(values, top_k=...,
    num_oov_buckets=..., vocab_filename=name)` maps them."""
    names = list(values)
    if not names:
        return {}
    files = [vocabulary_filename(name) for name in names]
    for name, file in zip(names, files, strict=True):
        if files.count(file) > 1:
            others = [other for other, same in zip(names, files, strict=True)
                      if same == file and other != name]
            raise ValueError(f"Features {name!r} and {others[0]!r} would share one vocabulary "
                             f"file ({file!r}: tf.Transform's file names keep only letters, "
                             "digits, '_' and '-'); rename one of them.")
    paths = tft.experimental.ptransform_analyzer(
        _counted_values([values[name] for name in names]),
        _CountAndWriteVocabularies(files, [top_k[name] for name in names]),
        output_dtypes=[tf.string] * len(names), output_shapes=[[]] * len(names),
        output_asset_default_values=[EMPTY_VOCABULARY_TOKEN] * len(names),
        name="vocabularies")
    ids = {}
    for name, file, path in zip(names, files, paths, strict=True):
        tft.annotate_asset(name, file)
        ids[name] = tft.apply_vocabulary(values[name], path, num_oov_buckets=num_oov_buckets)
    return ids


def _counted_values(features: Sequence[tf.Tensor | tf.RaggedTensor]) -> list[tf.Tensor]:
    """A batch reduced in the graph to its distinct (feature, value) pairs: the values,
    the index of each one's feature, and how many times it occurs, as tf.Transform reduces
    each vocabulary's batch to unique values and counts, but in a dozen ops for all the
    features (ops per feature made tracing, which tf.Transform does six times a run, grow
    with the columns)."""
    flat = [feature.flat_values if isinstance(feature, tf.RaggedTensor)
            else tf.reshape(feature, [-1]) for feature in features]
    tokens = tf.concat(flat, axis=0)
    columns = tf.concat([tf.fill(tf.shape(values, out_type=tf.int64), tf.constant(index, tf.int64))
                         for index, values in enumerate(flat)], axis=0)
    kept = tf.logical_not(tf.strings.regex_full_match(tokens, _UNWRITABLE))
    tokens, columns = tf.boolean_mask(tokens, kept), tf.boolean_mask(columns, kept)
    keys = tf.strings.join([tf.strings.as_string(columns), tokens], separator=" ")
    _, index, counts = tf.unique_with_counts(keys, out_idx=tf.int64)
    # Each distinct pair's first occurrence, so that values keep the order they came in
    # (and the pairs stay grouped by feature, in the features' order).
    first = tf.math.unsorted_segment_min(tf.range(tf.size(keys, out_type=tf.int64)), index,
                                         tf.size(counts, out_type=tf.int64))
    return [tf.gather(tokens, first), tf.gather(columns, first), counts]


class _SketchesCombineFn(beam.CombineFn):
    """One Misra-Gries sketch per vocabulary over reduced batches (`_counted_values`),
    added and merged as tf.Transform's approximate vocabulary combiner does."""

    def __init__(self, top_k: Sequence[int]) -> None:
        self._top_k = list(top_k)

    def create_accumulator(self) -> list[sketches.MisraGriesSketch]:
        return [sketches.MisraGriesSketch(
            k, order_on_tie=sketches.MisraGriesSketch.OrderOnTie.ReverseLexicographical)
            for k in self._top_k]

    def add_input(self, accumulator: list[sketches.MisraGriesSketch],
                  batch: Sequence[np.ndarray]) -> list[sketches.MisraGriesSketch]:
        tokens, columns, counts = batch
        # `_counted_values` keeps the features' order, so each feature's pairs are one run.
        edges = np.searchsorted(columns, np.arange(len(accumulator) + 1))
        for column, sketch in enumerate(accumulator):
            start, end = edges[column], edges[column + 1]
            if end > start:
                sketch.AddValues(pa.array(tokens[start:end]),
                                 pa.array(counts[start:end], pa.float32()))
        return accumulator

    def merge_accumulators(self, accumulators: Sequence[list[sketches.MisraGriesSketch]]
                           ) -> list[sketches.MisraGriesSketch]:
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for other in accumulators:
            for sketch, more in zip(merged, other, strict=True):
                sketch.Merge(more)
        return merged

    def extract_output(self, accumulator: list[sketches.MisraGriesSketch]) -> list[list[bytes]]:
        """Each vocabulary's values, most frequent first."""
        vocabularies = []
        for sketch in accumulator:
            estimate = sketch.Estimate()
            estimate.validate()
            vocabularies.append(estimate.field("values").to_pylist() or [EMPTY_VOCABULARY_TOKEN])
        return vocabularies


class _CountAndWriteVocabularies(tft_beam.experimental.PTransformAnalyzer):
    """The Beam side: one combine for all the sketches, then one step that writes every
    vocabulary file (through tf.io.gfile: the temporary directory is on gs:// on Vertex)
    and returns each file's path as that vocabulary's output."""

    def __init__(self, files: Sequence[str], top_k: Sequence[int]) -> None:
        super().__init__()
        self._files = list(files)
        self._top_k = list(top_k)

    def expand(self, batches: beam.PCollection) -> tuple[beam.PCollection, ...]:
        directory = self.base_temp_dir
        files = self._files

        def write(vocabularies: list[list[bytes]]) -> Iterator[beam.pvalue.TaggedOutput]:
            tf.io.gfile.makedirs(directory)
            for index, (file, tokens) in enumerate(zip(files, vocabularies, strict=True)):
                path = f"{directory.rstrip('/')}/{file}"
                with tf.io.gfile.GFile(path, "wb") as handle:
                    handle.write(b"".join(token + b"\n" for token in tokens))
                yield beam.pvalue.TaggedOutput(str(index), np.array(path))

        tags = [str(index) for index in range(len(files))]
        written = (batches
                   | "Count" >> beam.CombineGlobally(_SketchesCombineFn(self._top_k))
                   | "Write" >> beam.FlatMap(write).with_outputs(*tags))
        return tuple(written[tag] for tag in tags)
