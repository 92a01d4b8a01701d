"""The JSON-lines/CSV reader: types, the label, and errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.components.example_gen import (
    InputDataError,
    RowConverter,
    read_examples,
    read_records,
)
from pipeline.settings import IngestionSettings, resolve_data_path, split_percents
from tests.configs import dataset_config, taxi_config
from tests.helpers import TESTDATA, sample_rows


@pytest.fixture(scope="module")
def converter() -> RowConverter:
    return RowConverter(IngestionSettings.from_config(taxi_config()))


def _features(example) -> dict:
    values = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values[name] = list(getattr(feature, kind).value) if kind else []
    return values


def test_row_types_follow_the_feature_configuration(converter: RowConverter) -> None:
    row = dict(sample_rows(1)[0], fare=14.45, tips=3.0, company=None, trip_start_hour=7)
    features = _features(converter.convert(row, "row"))
    assert features["fare"] == [pytest.approx(14.45)]
    assert features["trip_start_hour"] == [b"7"]  # categorical: a string, as BigQuery casts it
    assert features["company"] == []  # null: present but empty, i.e. missing
    assert features["big_tipper"] == [1]
    assert "tips" not in features  # the label's source column is not a feature


def test_label_zero_is_kept_not_dropped(converter: RowConverter) -> None:
    row = dict(sample_rows(1)[0], fare=10.0, tips=0.0)
    assert _features(converter.convert(row, "row"))["big_tipper"] == [0]


def test_jsonl_file_reads_every_row(converter: RowConverter) -> None:
    examples = list(read_examples(str(TESTDATA), converter))
    assert len(examples) == sum(1 for _ in TESTDATA.open())
    positives = sum(_features(example)["big_tipper"][0] for example in examples)
    assert 0.1 < positives / len(examples) < 0.5


def test_the_full_csv_sample_reads_with_the_same_types(converter: RowConverter) -> None:
    csv_path = resolve_data_path(
        "package://tfx/examples/chicago_taxi_pipeline/data/simple/data.csv")
    examples = list(read_examples(csv_path, converter))
    assert len(examples) == 15002
    first = _features(examples[0])
    assert first["payment_type"] == [b"Credit Card"] and first["pickup_community_area"] == []


def _write(tmp_path: Path, name: str, lines: list[str]) -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_malformed_json_names_file_and_line(tmp_path: Path, converter: RowConverter) -> None:
    good = [json.dumps(row) for row in sample_rows(3)]
    path = _write(tmp_path, "bad.jsonl", good[:2] + ['{"fare": 3.5, "tips": '] + good[2:])
    with pytest.raises(InputDataError, match=rf"{path}:3: malformed JSON"):
        list(read_examples(path, converter))


def test_missing_column_names_file_line_and_column(tmp_path: Path,
                                                    converter: RowConverter) -> None:
    rows = sample_rows(3)
    del rows[1]["payment_type"]
    path = _write(tmp_path, "missing.jsonl", [json.dumps(row) for row in rows])
    with pytest.raises(InputDataError,
                       match=rf"{path}:2: missing required column 'payment_type'"):
        list(read_examples(path, converter))


def test_csv_row_with_too_few_cells_names_the_line(tmp_path: Path,
                                                   converter: RowConverter) -> None:
    csv_path = resolve_data_path(
        "package://tfx/examples/chicago_taxi_pipeline/data/simple/data.csv")
    with open(csv_path) as handle:
        lines = [next(handle).rstrip("\n") for _ in range(4)]
    lines[2] = lines[2].rsplit(",", 3)[0]  # drop the last three cells of line 3
    path = _write(tmp_path, "short_row.csv", lines)
    with pytest.raises(InputDataError, match=rf"{path}:3: fewer cells than the header has"):
        list(read_examples(path, converter))


def test_csv_header_without_a_required_column(tmp_path: Path, converter: RowConverter) -> None:
    path = _write(tmp_path, "short.csv", ["fare,tips", "1.0,0.5"])
    with pytest.raises(InputDataError, match=rf"{path}:1: header lacks required column"):
        list(read_examples(path, converter))


@pytest.mark.parametrize(("value", "message"), [
    ('"abc"', "column 'fare' should be a number, got 'abc'"),
    ("NaN", "column 'fare' is nan, not a finite number"),
    ("Infinity", "column 'fare' is inf, not a finite number"),
    ("-Infinity", "column 'fare' is -inf, not a finite number"),
    ("true", "column 'fare' should be a number, got True"),
])
def test_bad_values_name_the_column(tmp_path: Path, converter: RowConverter, value: str,
                                    message: str) -> None:
    line = json.dumps(dict(sample_rows(1)[0], fare=0)).replace('"fare": 0', f'"fare": {value}')
    path = _write(tmp_path, "values.jsonl", [line])
    with pytest.raises(InputDataError) as raised:
        list(read_examples(path, converter))
    assert str(raised.value) == f"{path}:1: {message}"


def test_empty_file_is_an_error(tmp_path: Path, converter: RowConverter) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(InputDataError, match="holds no rows"):
        list(read_examples(str(path), converter))


def test_invalid_utf8_names_the_line(tmp_path: Path, converter: RowConverter) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(sample_rows(1)[0]).encode() + b"\n" + b'{"company": "\xe9"}\n')
    with pytest.raises(InputDataError, match=rf"{path}:2: not valid UTF-8"):
        list(read_examples(str(path), converter))


def test_an_extra_column_is_tolerated_and_ignored(tmp_path: Path,
                                                  converter: RowConverter) -> None:
    # Tolerated on purpose: tables grow columns, and the pipeline reads only the columns
    # its configuration names, so a new one changes nothing the model sees.
    row = sample_rows(1)[0]
    path = _write(tmp_path, "extra.jsonl", [json.dumps({**row, "surge_multiplier": 1.5})])
    plain = _write(tmp_path, "plain.jsonl", [json.dumps(row)])
    assert list(read_examples(path, converter)) == list(read_examples(plain, converter))


def test_a_file_without_the_label_column_fails_naming_file_line_and_column(
        tmp_path: Path) -> None:
    converter = RowConverter(IngestionSettings.from_config(dataset_config("penguins")))
    path = tmp_path / "penguins.jsonl"
    rows = [json.loads(line) for line in (TESTDATA.parent / "penguins.jsonl").open()][:3]
    path.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "species"})
                            + "\n" for row in rows))
    with pytest.raises(InputDataError, match=f"{path}:1: missing label column 'species'"):
        list(read_examples(str(path), converter))


def test_a_non_numeric_regression_label_fails_naming_file_line_and_column(
        tmp_path: Path) -> None:
    converter = RowConverter(IngestionSettings.from_config(dataset_config("taxi_fare")))
    path = tmp_path / "trips.csv"
    row = sample_rows(1)[0]
    columns = [name for name in row if name != "fare"]
    path.write_text(",".join(columns + ["fare"]) + "\n"
                    + ",".join(str(row[name] or "") for name in columns) + ",12.5\n"
                    + ",".join(str(row[name] or "") for name in columns) + ",twelve\n")
    with pytest.raises(InputDataError, match=f"{path}:3: label column 'fare' should be a "
                                             "number for task=regression, got 'twelve'"):
        list(read_examples(str(path), converter))


def test_rows_without_a_label_are_left_out_and_the_rest_typed_by_task() -> None:
    converter = RowConverter(IngestionSettings.from_config(dataset_config("taxi_tip_share")))
    rows = sample_rows()
    examples = [converter.convert(row, f"row {i}") for i, row in enumerate(rows)]
    unlabelled = [row for row, example in zip(rows, examples, strict=True) if example is None]
    assert unlabelled and all(not row["fare"] for row in unlabelled)
    shares = [_features(example)["tip_share"] for example in examples if example is not None]
    assert all(len(share) == 1 and 0 <= share[0] < 2 for share in shares)
    penguin = RowConverter(IngestionSettings.from_config(dataset_config("penguins"))).convert(
        {"species": "Adelie", "island": "Dream", "sex": None, "bill_length_mm": 39.1,
         "bill_depth_mm": None, "flipper_length_mm": 181, "body_mass_g": 3750}, "row")
    assert _features(penguin)["species"] == [b"Adelie"]


def _exec_properties(config) -> dict:
    """The ExampleGen component's execution properties, as its executor receives them."""
    from google.protobuf import message
    from tfx.utils import proto_utils

    from pipeline.components.example_gen import record_file_example_gen, split_config

    settings = IngestionSettings.from_config(config)
    component = record_file_example_gen(settings, config.resolved_data_path(),
                                        split_config(settings), "code")
    return {key: proto_utils.proto_to_json(value) if isinstance(value, message.Message)
            else value for key, value in component.exec_properties.items()}


def _records(directory: Path) -> list[bytes]:
    import tensorflow as tf

    files = sorted(str(path) for path in directory.rglob("*.gz"))
    return [record.numpy() for record in tf.data.TFRecordDataset(files, "GZIP")]


def test_streaming_splits_equal_tfx_beam_splits(tmp_path: Path) -> None:
    """The streaming path writes exactly the examples TFX's Beam path writes, split by
    split (TFX shuffles before writing, so as sets), and in file order."""
    import apache_beam as beam

    from pipeline.components.example_gen import RecordFileExampleGenExecutor, write_splits
    from pipeline.components.example_gen import split_config as split_config_of

    config = taxi_config()
    properties = _exec_properties(config)
    executor = RecordFileExampleGenExecutor()
    with beam.Pipeline() as pipeline:
        for name, examples in executor.GenerateExamplesByBeam(pipeline, properties).items():
            _ = (examples
                 | f"Serialize{name}" >> beam.Map(lambda e: e.SerializeToString(
                     deterministic=True))
                 | f"Write{name}" >> beam.io.WriteToTFRecord(
                     str(tmp_path / "beam" / name / "part"), file_name_suffix=".gz"))
    counts = write_splits([str(TESTDATA)], RowConverter(IngestionSettings.from_config(config)),
                          split_config_of(config).split_config,
                          {name: str(tmp_path / "stream" / name)
                           for name in split_percents(config)})
    converter = RowConverter(IngestionSettings.from_config(config))
    in_file_order = [example.SerializeToString(deterministic=True)
                     for example in read_examples(str(TESTDATA), converter)]
    for name in split_percents(config):
        streamed, by_beam = _records(tmp_path / "stream" / name), _records(tmp_path / "beam" / name)
        assert sorted(streamed) == sorted(by_beam)
        assert len(streamed) == counts[name]
        # Written as read: the rows of the file TFX put in this split, in the file's order.
        members = set(by_beam)
        assert streamed == [record for record in in_file_order if record in members]
    assert counts["eval"] / sum(counts.values()) == pytest.approx(0.2, abs=0.03)
    assert counts["validation"] / sum(counts.values()) == pytest.approx(0.1, abs=0.03)


@pytest.mark.parametrize("dataset", ["taxi", "penguins", "taxi_fare", "taxi_tip_share", "imdb"])
def test_encoded_rows_are_the_deterministic_serialization_of_their_example(
        dataset: str) -> None:
    """ExampleGen writes hand-encoded bytes: they must be exactly what protobuf writes for
    the same Example (so TFX's split hash and every reader agree), for every row."""
    import tensorflow as tf

    config = dataset_config(dataset)
    converter = RowConverter(IngestionSettings.from_config(config))
    path = resolve_data_path(config.data_path)
    records = list(read_records(path, converter))
    assert records
    for record in records:
        assert tf.train.Example.FromString(record).SerializeToString(deterministic=True) \
            == record


def test_missing_value_tokens_are_read_as_missing_and_counted_per_column(
        tmp_path: Path, converter: RowConverter, caplog: pytest.LogCaptureFixture) -> None:
    """A CSV written by R or a spreadsheet: NA, N/A, null and empty cells are missing
    values in numeric and categorical columns alike, not errors or categories, and the
    log counts them per column."""
    rows = sample_rows(4)
    columns = list(rows[0])
    lines = [",".join(columns)]
    tokens = {0: ("trip_miles", "NA"), 1: ("company", "N/A"), 2: ("trip_seconds", "null"),
              3: ("company", "")}
    for index, row in enumerate(rows):
        cells = {name: "" if row[name] is None else str(row[name]) for name in columns}
        column, token = tokens[index]
        cells[column] = token
        lines.append(",".join(f'"{cells[name]}"' for name in columns))
    path = _write(tmp_path, "exported.csv", lines)
    with caplog.at_level("INFO", logger="pipeline.components.example_gen"):
        examples = [_features(example) for example in read_examples(path, converter)]
    assert len(examples) == 4
    assert examples[0]["trip_miles"] == [] and examples[2]["trip_seconds"] == []
    assert examples[1]["company"] == [] and examples[3]["company"] == []
    assert examples[1]["trip_miles"] != []  # only the token's own cell is missing
    counted = [record.getMessage() for record in caplog.records
               if "missing values per column" in record.getMessage()]
    assert len(counted) == 1
    assert "trip_miles 1" in counted[0] and "trip_seconds 1" in counted[0]
    missing_company = {1, 3} | {index for index, row in enumerate(rows) if row["company"] is None}
    assert f"company {len(missing_company)}," in counted[0]


def test_a_binary_label_written_as_strings_names_its_positive_class() -> None:
    config = taxi_config(label_rule="", label_name="tipped", positive_class="yes")
    converter = RowConverter(IngestionSettings.from_config(config))
    row = sample_rows(1)[0]
    labels = [converter.convert(dict(row, tipped=value), "row") for value in
              ("yes", "no", "NA")]
    assert [_features(example)["tipped"] for example in labels[:2]] == [[1], [0]]
    assert labels[2] is None  # a missing label: the row is left out
    refusing = RowConverter(IngestionSettings.from_config(
        taxi_config(label_rule="", label_name="tipped")))
    with pytest.raises(InputDataError, match="positive_class"):
        refusing.convert(dict(row, tipped="yes"), "data.csv:2")
