"""Test helpers: testdata rows, their serialized examples, and tf.Transform on them."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx_bsl.public import tfxio

from pipeline.components.example_gen import RowConverter
from pipeline.settings import REPOSITORY_ROOT, IngestionSettings, PipelineConfig, TransformSettings
from preprocessing import preprocessing_fn

TESTDATA = REPOSITORY_ROOT / "testdata" / "taxi_trips.jsonl"


def sample_rows(count: int | None = None) -> list[dict]:
    """The first `count` rows of the sanity dataset, as dicts."""
    rows = []
    with TESTDATA.open() as handle:
        for line in handle:
            rows.append(json.loads(line))
            if count is not None and len(rows) == count:
                break
    return rows


def curated_schema(config: PipelineConfig) -> schema_pb2.Schema:
    """The schema the pipeline gives Transform: the curated one in the repository."""
    return text_format.Parse(Path(config.resolved_schema_path()).read_text(),
                             schema_pb2.Schema())


def raw_feature_spec(config: PipelineConfig) -> dict:
    """How Transform parses raw examples under that schema (every feature VarLen)."""
    return schema_utils.schema_as_feature_spec(curated_schema(config)).feature_spec


def serialized_examples(config: PipelineConfig, rows: list[dict]) -> list[bytes]:
    """Rows converted exactly as the pipeline's ExampleGen converts them."""
    converter = RowConverter(IngestionSettings.from_config(config))
    return [converter.convert(row, f"row {i}").SerializeToString() for i, row in enumerate(rows)]


def unlabeled_examples(config: PipelineConfig, rows: list[dict]) -> list[bytes]:
    """`serialized_examples` without the label: what a serving caller sends."""
    unlabeled = []
    for record in serialized_examples(config, rows):
        example = tf.train.Example.FromString(record)
        del example.features.feature[config.label_name]
        unlabeled.append(example.SerializeToString())
    return unlabeled


def fit_transform(config: PipelineConfig, rows: list[dict], output_dir: Path,
                  fitted: Callable[[dict, dict], dict] = preprocessing_fn) -> None:
    """Analyzes `rows` with tf.Transform on Beam and writes the transform_fn to `output_dir`:
    the pipeline's `preprocessing_fn`, or `fitted` (called as it is)."""
    schema = curated_schema(config)
    source = tfxio.TFExampleBeamRecord(physical_format="inmem", schema=schema,
                                       telemetry_descriptors=["tests"])
    custom_config = {"settings": TransformSettings.from_config(config).to_dict()}
    with tempfile.TemporaryDirectory() as temp_dir, \
            tft_beam.Context(temp_dir=temp_dir):
        with beam.Pipeline() as beam_pipeline:
            raw = beam_pipeline | beam.Create(serialized_examples(config, rows)) \
                | source.BeamSource()
            transform_fn = (raw, source.TensorAdapterConfig()) | tft_beam.AnalyzeDataset(
                lambda inputs: fitted(inputs, custom_config))
            _ = transform_fn | tft_beam.WriteTransformFn(str(output_dir))
    # The raw schema, as TFX's Transform writes it, for TFTransformOutput.raw_feature_spec().
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(schema),
                               str(output_dir / tft.TFTransformOutput.RAW_METADATA_DIR))


def transform_rows(output_dir: Path, config: PipelineConfig, rows: list[dict]
                   ) -> dict[str, tf.Tensor]:
    """Applies a written transform_fn to rows, the way serving does."""
    transform_output = tft.TFTransformOutput(str(output_dir))
    parsed = tf.io.parse_example(serialized_examples(config, rows), raw_feature_spec(config))
    return transform_output.transform_raw_features(parsed)


def tf_example(features: dict[str, np.ndarray], row: int) -> tf.train.Example:
    """Row `row` of transformed features, as the tf.Example Transform would write."""
    values = {}
    for name, column in features.items():
        value = column[row].reshape(-1).tolist()  # one value, or an encoding's vector
        values[name] = (tf.train.Feature(float_list=tf.train.FloatList(value=value))
                        if column.dtype.kind == "f"
                        else tf.train.Feature(int64_list=tf.train.Int64List(value=value)))
    return tf.train.Example(features=tf.train.Features(feature=values))


def write_transformed_examples(transform_output_dir: Path, config: PipelineConfig,
                               rows_per_split: dict[str, list[dict]], directory: Path) -> None:
    """An Examples artifact directory of transformed rows, one gzipped file per split."""
    for split, split_rows in rows_per_split.items():
        features = {name: tensor.numpy() for name, tensor in
                    transform_rows(transform_output_dir, config, split_rows).items()}
        split_dir = directory / f"Split-{split}"
        split_dir.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(split_dir / "transformed_examples-00000-of-00001.gz"),
                                  "GZIP") as writer:
            for row in range(len(split_rows)):
                writer.write(tf_example(features, row).SerializeToString())


@dataclasses.dataclass
class HtmlReport:
    """What a test reads from an HTML report: tables by id (rows as dicts keyed by the
    header), embedded images, and any reference to something outside the file."""

    tables: dict[str, list[dict[str, str]]]
    images: int
    external_references: list[str]


def read_report(path: Path) -> HtmlReport:
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tables: dict[str, list[list[str]]] = {}
            self.images = 0
            self.external: list[str] = []
            self.table: str | None = None
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list) -> None:
            attributes = dict(attrs)
            for name in ("src", "href"):
                value = attributes.get(name) or ""
                if value and not value.startswith("data:image/png;base64,"):
                    self.external.append(value)
            if tag == "img" and (attributes.get("src") or "").startswith("data:image/png"):
                import base64

                data = base64.b64decode(attributes["src"].split(",", 1)[1])
                assert data[:8] == b"\x89PNG\r\n\x1a\n"
                self.images += 1
            if tag == "table":
                self.table = attributes.get("id") or f"table{len(self.tables)}"
                self.tables[self.table] = []
            elif tag == "tr" and self.table:
                self.tables[self.table].append([])
            elif tag in ("td", "th") and self.table:
                self.cell = []

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None and self.table:
                self.tables[self.table][-1].append("".join(self.cell).strip())
                self.cell = None
            elif tag == "table":
                self.table = None

    reader = Reader()
    reader.feed(path.read_text())
    tables = {name: [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
              for name, rows in reader.tables.items() if rows}
    return HtmlReport(tables, reader.images, reader.external)
