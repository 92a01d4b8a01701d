"""ExampleGen for local JSON-lines and CSV files, built on TFX's file-based ExampleGen.

TFX ships no JSON-lines ExampleGen, and its CsvExampleGen infers each column's type from
the data and cannot compute a label. This executor reads both formats with the feature
configuration: numeric features become floats, categorical and text ones strings (as the
BigQuery query casts them), the label is read or computed for the task (pipeline/settings/label.py),
and every problem in a file is reported with the file and line it is on.

On one machine it streams: rows are read, converted, assigned to a split by the same hash
TFX's base executor uses (SHA-256 of the example's deterministic serialization), and
written to that split's gzipped TFRecord file as they come, so memory stays flat however
many rows there are and the rows per second are logged as it goes. TFX's own path, a
Beam pipeline that materializes every example before a shuffle and write (292 s and
4.6 GB for 1.5M rows with its CsvExampleGen on 2 cores), is kept for a distributed Beam
runner such as Dataflow, where it parallelizes across workers.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import bisect
import csv
import hashlib
import itertools
import json
import logging
import math
import os
import struct
import time
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
import tensorflow as tf
from google.protobuf import any_pb2, json_format, struct_pb2
from tfx.components import FileBasedExampleGen
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.write_split import DEFAULT_FILE_NAME
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from pipeline.components.beam_runner import runs_locally
from pipeline.settings import (
    SOURCE_FEATURE,
    IngestionSettings,
    PipelineConfig,
    ScoringIngestionSettings,
    split_percents,
)
from pipeline.settings.label import Label
from pipeline.settings.values import InputDataError

JSON_LINES_SUFFIXES = (".jsonl", ".json", ".ndjson")
CSV_SUFFIXES = (".csv",)
logger = logging.getLogger(__name__)


class RowConverter:
    """Turns one raw row (a dict of JSON or CSV values) into a `tf.train.Example`, or None
    for a row without a label (pipeline/settings/label.py says why those are left out).

    `settings` are the ExampleGen's (`IngestionSettings`). Given `ScoringIngestionSettings`
    instead, the rows are a table to score: no label is read or written, the key and
    pass-through columns are written as text, and each example names its origin in
    SOURCE_FEATURE."""

    def __init__(self, settings: IngestionSettings | ScoringIngestionSettings) -> None:
        self.scoring = isinstance(settings, ScoringIngestionSettings)
        self.label = (None if self.scoring else Label.from_settings(
            settings.label_name, settings.label_rule, settings.task, settings.positive_class))
        self.label_name: str = "" if self.scoring else settings.label_name
        numeric = list(settings.numeric_features + settings.bucketized_features)
        self.categorical_columns: list[str] = list(settings.categorical_features)
        self.text_columns: list[str] = list(settings.text_features)
        features = set(numeric + self.categorical_columns + self.text_columns)
        self.passthrough_columns: list[str] = [
            name for name in dict.fromkeys(settings.key_columns + settings.passthrough_columns)
            if name not in features] if self.scoring else []
        rule = self.label.rule if self.label else None
        rule_only = ([c for c in rule.columns if c not in numeric and c not in rule.string_columns
                      and c not in self.categorical_columns] if rule else [])
        self.numeric_columns: list[str] = numeric + rule_only
        self.required_columns = list(dict.fromkeys(
            self.numeric_columns + self.categorical_columns + self.text_columns
            + (list(self.label.columns) if self.label else []) + self.passthrough_columns))
        self.string_columns = self.categorical_columns + self.text_columns
        # The numeric features; a rule's other inputs are read, not written.
        self.float_features: list[str] = numeric
        self._required = frozenset(self.required_columns)
        # Tokens that mean "no value" wherever they stand (`missing_values`), and the
        # missing values seen per column since `take_missing_counts` last ran.
        self._missing_tokens = frozenset(settings.missing_values) | {""}
        self.missing_counts: dict[str, int] = dict.fromkeys(self.required_columns, 0)
        # Deterministic serialization orders a map by key: the order is fixed per table.
        written = (*self.float_features, *self.string_columns,
                   *((*self.passthrough_columns, SOURCE_FEATURE) if self.scoring
                     else (self.label_name,)))
        self._name_order = sorted(written, key=str.encode)
        self._key_fields = {name: _field(1, name.encode()) for name in written}
        self._no_value = {name: self._entry(name, _float_feature(()))
                          for name in self.float_features}
        self._no_value.update({name: self._entry(name, _bytes_feature(()))
                               for name in (*self.string_columns, *self.passthrough_columns)})
        self._one_float_prefix = {name: self._entry(name, _float_feature((0.0,)))[:-4]
                                  for name in self.float_features}

    def missing_columns(self, present: set[str]) -> list[str]:
        """The required columns (features and the label's columns) not in `present`."""
        return [name for name in self.required_columns if name not in present]

    def convert(self, row: Mapping[str, Any], where: str) -> tf.train.Example | None:
        """The row as a `tf.train.Example` (None: it has no label); see `encode`."""
        record = self.encode(row, where)
        return None if record is None else tf.train.Example.FromString(record)

    def encode(self, row: Mapping[str, Any], where: str) -> bytes | None:
        """The row as a serialized `tf.train.Example`, exactly the bytes of its
        deterministic serialization (features in name order), or None for a row without a
        label. Encoded here rather than built as a proto and serialized: building
        Feature messages in Python was three quarters of ExampleGen's time."""
        if not self._required.issubset(row.keys()):
            missing = self.missing_columns(set(row))
            which = ("label column" if missing[0] == self.label_name and self.label
                     and not self.label.rule else "required column")
            raise InputDataError(f"{where}: missing {which} {missing[0]!r}"
                                 + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        row = self._present(row)
        numbers = {name: _number(row[name], name, where) for name in self.numeric_columns}
        label = self.label.value(row, numbers, where) if self.label else None
        if label is None and not self.scoring:
            return None
        entries: dict[str, bytes] = {}  # name -> its map entry {key = 1, value = 2}
        for name in self.float_features:
            value = numbers[name]
            # One float is a fixed-size entry: a prefix built once, then its four bytes.
            entries[name] = (self._no_value[name] if value is None
                             else self._one_float_prefix[name] + _PACK_FLOAT(value))
        for name in self.string_columns:
            value = _category(row[name], name, where)
            entries[name] = (self._no_value[name] if value is None
                             else _one_bytes_entry(self._key_fields[name], value.encode()))
        if self.scoring:
            for name in self.passthrough_columns:
                value = _category(row[name], name, where)
                entries[name] = (self._no_value[name] if value is None
                                 else _one_bytes_entry(self._key_fields[name], value.encode()))
            entries[SOURCE_FEATURE] = _one_bytes_entry(self._key_fields[SOURCE_FEATURE],
                                                       where.encode())
        # Written explicitly (not with tfx's dict_to_example, which turns 0 into "missing").
        elif isinstance(label, str):
            entries[self.label_name] = self._entry(self.label_name,
                                                   _bytes_feature((label.encode(),)))
        elif isinstance(label, float):
            entries[self.label_name] = self._entry(self.label_name, _float_feature((label,)))
        else:
            entries[self.label_name] = self._entry(self.label_name, _int64_feature((label,)))
        return _field(1, b"".join([entries[name] for name in self._name_order]))

    def _present(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The required columns of `row`, a missing-value token (`NA`, `null`, ...) or
        an empty string as None, each such value counted for its column."""
        tokens, counts, present = self._missing_tokens, self.missing_counts, {}
        for name in self.required_columns:
            value = row[name]
            if value is None or (value.__class__ is str and value in tokens):
                counts[name] += 1
                value = None
            present[name] = value
        return present

    def take_missing_counts(self) -> dict[str, int]:
        """The columns with missing values and how many, since the last call."""
        counts = {name: count for name, count in self.missing_counts.items() if count}
        self.missing_counts = dict.fromkeys(self.required_columns, 0)
        return counts

    def _entry(self, name: str, feature: bytes) -> bytes:
        return _field(1, self._key_fields[name] + _field(2, feature))


# ---------------------------------------------------------------------- the wire format
# tf.train.Example is Example{features=1: Features{feature=1: map<string, Feature>}}, a
# map entry being {key=1, value=2}; Feature is one of bytes_list=1, float_list=2,
# int64_list=3, each a message whose field 1 holds the values (numbers packed).
def _encode_varint(number: int) -> bytes:
    number &= (1 << 64) - 1  # a negative int64 takes ten bytes, as protobuf writes it
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


# Lengths and small numbers by lookup: encoding them was most of the encoder's time.
_SMALL_VARINTS = tuple(_encode_varint(number) for number in range(1 << 14))


def _varint(number: int) -> bytes:
    return _SMALL_VARINTS[number] if 0 <= number < 16384 else _encode_varint(number)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _SMALL_VARINTS[number << 3 | 2] + _varint(len(payload)) + payload


_PACK_FLOAT = struct.Struct("<f").pack


def _float_feature(values: tuple[float, ...]) -> bytes:
    packed = struct.pack(f"<{len(values)}f", *values)
    return _field(2, _field(1, packed) if values else b"")


def _int64_feature(values: tuple[int, ...]) -> bytes:
    packed = b"".join(_varint(value) for value in values)
    return _field(3, _field(1, packed) if values else b"")


def _bytes_feature(values: tuple[bytes, ...]) -> bytes:
    return _field(1, b"".join(_field(1, value) for value in values))


def _one_bytes_entry(key_field: bytes, value: bytes) -> bytes:
    """`_field(1, key_field + _field(2, _bytes_feature((value,))))`, unrolled: most columns
    are one string, and this is the encoder's innermost loop."""
    values = b"\x0a" + _varint(len(value)) + value  # BytesList.value
    feature = b"\x0a" + _varint(len(values)) + values  # Feature.bytes_list
    payload = key_field + b"\x12" + _varint(len(feature)) + feature  # entry {key, value}
    return b"\x0a" + _varint(len(payload)) + payload


def _number(value: Any, column: str, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputDataError(f"{where}: column {column!r} should be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise InputDataError(
            f"{where}: column {column!r} should be a number, got {value!r}"
        ) from None
    if not math.isfinite(number):
        raise InputDataError(f"{where}: column {column!r} is {value!r}, not a finite number")
    return number


def _category(value: Any, column: str, where: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputDataError(f"{where}: column {column!r} is {value!r}, not a category")
        # 7.0 and 7 are the same category, and BigQuery's CAST(7 AS STRING) gives "7".
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise InputDataError(f"{where}: column {column!r} should be a string or number, "
                         f"got {type(value).__name__}")


def read_examples(path: str, converter: RowConverter) -> Iterator[tf.train.Example]:
    """Yields the examples of one file, raising `InputDataError` at the first bad line."""
    for record in read_records(path, converter):
        yield tf.train.Example.FromString(record)


def read_records(path: str, converter: RowConverter) -> Iterator[bytes]:
    """Yields the serialized examples of one file (`RowConverter.encode`), raising
    `InputDataError` at the first bad line."""
    with tf.io.gfile.GFile(path, "rb") as handle:
        lines = _decoded_lines(handle, path)
        rows = _json_lines(lines, path) if path.endswith(JSON_LINES_SUFFIXES) else _csv_rows(
            lines, path, converter
        )
        count = unlabelled = 0
        for line_number, row in rows:
            record = converter.encode(row, f"{path}:{line_number}")
            count += 1
            if record is None:
                unlabelled += 1
            else:
                yield record
    if count == 0:
        raise InputDataError(f"{path}: the file holds no rows")
    if unlabelled == count:
        raise InputDataError(f"{path}: none of its {count} rows has a value for the label "
                             f"{converter.label_name!r}")
    missing = converter.take_missing_counts()
    if missing:
        logger.info("%s: missing values per column (of %d rows): %s", path, count,
                    ", ".join(f"{name} {number}" for name, number in sorted(missing.items())))
    if unlabelled:
        logger.warning("%s: %d of %d rows have no label %r and were left out", path,
                       unlabelled, count, converter.label_name)


def _decoded_lines(handle: Any, path: str) -> Iterator[str]:
    for line_number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputDataError(f"{path}:{line_number}: not valid UTF-8 ({error.reason} "
                                 f"at byte {error.start + 1})") from None


def _json_lines(lines: Iterator[str], path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputDataError(
                f"{path}:{line_number}: malformed JSON ({error.msg} at column {error.colno})"
            ) from None
        if not isinstance(row, dict):
            raise InputDataError(f"{path}:{line_number}: expected a JSON object, "
                                 f"got {type(row).__name__}")
        yield line_number, row


def _csv_rows(lines: Iterator[str], path: str, converter: RowConverter
              ) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(lines)
    if reader.fieldnames is None:
        return
    missing = converter.missing_columns(set(reader.fieldnames))
    if missing:
        raise InputDataError(f"{path}:1: header lacks required column {missing[0]!r}")
    for row in reader:
        if None in row:  # more cells than header names
            raise InputDataError(f"{path}:{reader.line_num}: more cells than the header has")
        if None in row.values():  # fewer cells: DictReader fills them with None
            raise InputDataError(f"{path}:{reader.line_num}: fewer cells than the header has")
        yield reader.line_num, row


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _RecordFilesToExample(  # noqa: N802 - Beam's naming convention for PTransforms
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    paths = _input_paths(exec_properties["input_base"], split_pattern)
    converter = converter_of(exec_properties)
    return (
        pipeline
        | "ListFiles" >> beam.Create(paths)
        | "ReadAndConvert" >> beam.FlatMap(read_examples, converter)
    )


PROGRESS_SECONDS = 10.0  # how often a long read reports its rows


class RecordFileExampleGenExecutor(BaseExampleGenExecutor):
    """Reads JSON-lines and CSV files with the configured column types and label."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802
        return _RecordFilesToExample

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],  # noqa: N802
           exec_properties: dict[str, Any]) -> None:
        """Streams the files into the splits on a local Beam runner; TFX's Beam pipeline
        on a distributed one (see the module's docstring)."""
        if not runs_locally(self._beam_pipeline_args):
            super().Do(input_dict, output_dict, exec_properties)
            return
        input_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
            example_gen_pb2.Output())
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        split_names = example_gen_utils.generate_output_split_names(input_config, output_config)
        examples.split_names = artifact_utils.encode_split_names(split_names)
        [source] = input_config.splits  # one input split, hashed into the output splits
        write_splits(_input_paths(exec_properties["input_base"], source.pattern),
                     converter_of(exec_properties),
                     output_config.split_config,
                     {name: artifact_utils.get_split_uri([examples], name)
                      for name in split_names})
        payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if payload_format:
            examples_utils.set_payload_format(examples, payload_format)


def _input_paths(input_base: str, pattern: str) -> list[str]:
    full_pattern = os.path.join(input_base, pattern)
    paths = sorted(tf.io.gfile.glob(full_pattern))
    if not paths:
        raise InputDataError(f"No input file matches {full_pattern}")
    unsupported = [p for p in paths if not p.endswith(JSON_LINES_SUFFIXES + CSV_SUFFIXES)]
    if unsupported:
        raise InputDataError(f"{unsupported[0]}: unsupported file type; use "
                             f"{', '.join(JSON_LINES_SUFFIXES + CSV_SUFFIXES)}")
    return paths


def write_splits(paths: list[str], converter: RowConverter,
                 split_config: example_gen_pb2.SplitConfig,
                 split_directories: dict[str, str]) -> dict[str, int]:
    """Converts the rows of `paths` in order and writes each example to its split's
    gzipped TFRecord file (TFX's file name) in the directory given for it; returns the
    examples per split. The split is TFX's: SHA-256 of the example's deterministic
    serialization, modulo the total hash buckets, so a row lands where TFX's base
    executor would put it."""
    names = [split.name for split in split_config.splits]
    bounds = list(itertools.accumulate(split.hash_buckets for split in split_config.splits))
    writers = []
    for name in names:
        tf.io.gfile.makedirs(split_directories[name])
        writers.append(tf.io.TFRecordWriter(
            os.path.join(split_directories[name], f"{DEFAULT_FILE_NAME}-00000-of-00001.gz"),
            options="GZIP"))
    counts = [0] * len(names)
    started = last_report = time.monotonic()
    total = 0
    try:
        for path in paths:
            for record in read_records(path, converter):
                bucket = int(hashlib.sha256(record).hexdigest(), 16) % bounds[-1]
                index = bisect.bisect(bounds, bucket)
                writers[index].write(record)
                counts[index] += 1
                total += 1
                if total % 1024 == 0 and time.monotonic() - last_report >= PROGRESS_SECONDS:
                    last_report = time.monotonic()
                    logger.info("%s examples written (%s rows/s)", f"{total:,}",
                                f"{total / (last_report - started):,.0f}")
    finally:
        for writer in writers:
            writer.close()
    seconds = max(time.monotonic() - started, 1e-9)
    written = sum(tf.io.gfile.stat(os.path.join(directory, path)).length
                  for directory in split_directories.values()
                  for path in tf.io.gfile.listdir(directory))
    # `examples` and `bytes` let the local runner's progress turn bytes read into rows.
    logger.info("%s examples written in %.1f s (%s rows/s): %s", f"{total:,}", seconds,
                f"{total / seconds:,.0f}",
                ", ".join(f"{name} {count:,}" for name, count in zip(names, counts,
                                                                     strict=True)),
                extra={"examples": total, "bytes": written})
    return dict(zip(names, counts, strict=True))


def custom_config_values(exec_properties: Mapping[str, Any]) -> dict[str, Any]:
    """Unpacks what `record_file_example_gen` packed into custom_config."""
    custom_config = proto_utils.json_to_proto(
        exec_properties["custom_config"], example_gen_pb2.CustomConfig()
    )
    values = struct_pb2.Struct()
    custom_config.custom_config.Unpack(values)
    return json_format.MessageToDict(values)


def converter_of(exec_properties: Mapping[str, Any]) -> RowConverter:
    """The RowConverter of the settings `record_file_example_gen` packed (JSON text: a
    Struct would turn every integer into a float)."""
    values = custom_config_values(exec_properties)
    view = ScoringIngestionSettings if values["scoring"] else IngestionSettings
    return RowConverter(view.from_dict(json.loads(values["settings"]), "ExampleGen"))


def split_config(config: PipelineConfig | IngestionSettings) -> example_gen_pb2.Output:
    """A deterministic hash split into train, validation and eval (`split_percents`)."""
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=percent)
        for name, percent in split_percents(config).items()]))


def packed_custom_config(values: Mapping[str, Any]) -> example_gen_pb2.CustomConfig:
    """An ExampleGen custom_config holding `values` (JSON-like) as a packed Struct."""
    spec = struct_pb2.Struct()
    spec.update(dict(values))
    packed = any_pb2.Any()
    packed.Pack(spec)
    return example_gen_pb2.CustomConfig(custom_config=packed)


def record_file_example_gen(settings: IngestionSettings | ScoringIngestionSettings,
                            data_path: str, output_config: example_gen_pb2.Output,
                            code_fingerprint: str) -> FileBasedExampleGen:
    """The ExampleGen for `data_path` (a file or a glob in one directory, resolved), into
    the splits of `output_config`; `settings` say how rows are read (a
    ScoringIngestionSettings: rows to score, without a label).

    `code_fingerprint` (of this module's code) is stored with the settings so that editing
    the reader invalidates cached examples.
    """
    return FileBasedExampleGen(
        input_base=os.path.dirname(data_path),
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="all", pattern=os.path.basename(data_path))]
        ),
        output_config=output_config,
        custom_config=packed_custom_config({
            "settings": json.dumps(settings.to_dict(), sort_keys=True),
            "scoring": isinstance(settings, ScoringIngestionSettings),
            "code": code_fingerprint}),
        custom_executor_spec=executor_spec.BeamExecutorSpec(RecordFileExampleGenExecutor),
    )


SCORING_SPLIT = "score"


def one_split_config(name: str) -> example_gen_pb2.Output:
    """Every row in the one split `name`."""
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=1)]))


def scoring_split_config() -> example_gen_pb2.Output:
    """Every row of a table to score in one split."""
    return one_split_config(SCORING_SPLIT)
