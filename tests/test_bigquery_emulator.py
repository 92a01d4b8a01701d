"""The generated BigQuery query, run for real on bqemulator against the testdata rows.

The rows are loaded into a table with the public taxi table's columns and types, and each
answer is compared with what the local JSON-lines path writes for the same lines, or with
a Python filter of them. The emulator and the table are tests/bigquery_fixtures.py's.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from google.cloud import bigquery

from pipeline.components.example_gen import RowConverter
from pipeline.settings import IngestionSettings, PipelineConfig
from pipeline.settings.bigquery import bigquery_query
from tests.bigquery_fixtures import (
    PROJECT,
    RESULT_TYPE_OF_EXAMPLE_KIND,
    TABLE_COLUMNS,
    TRIPS_TABLE,
    UTC,
    load_table,
    whole_testdata_window,
)
from tests.configs import taxi_config

if TYPE_CHECKING:
    import tensorflow as tf


def _config(**overrides: Any) -> PipelineConfig:
    """The default configuration on the loaded table, selecting the row key as well.

    The key comes back as one more categorical column, so that each result row can be
    compared with its own JSON line.
    """
    categorical = (*taxi_config().categorical_features, "unique_key")
    return taxi_config(**{"bigquery_table": TRIPS_TABLE,
                             "categorical_features": categorical, **overrides})


def _run(client: bigquery.Client, config: PipelineConfig
         ) -> tuple[list[bigquery.SchemaField], list[dict[str, Any]]]:
    # Uncached, so that a repeated query is run again rather than answered from the cache.
    job = client.query(bigquery_query(config),
                       job_config=bigquery.QueryJobConfig(use_query_cache=False))
    rows = job.result(timeout=60)  # pages over REST; never the BigQuery Storage API
    return list(rows.schema), [dict(row) for row in rows]


def _keys(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(row["unique_key"] for row in rows)


def _example_values(example: tf.train.Example) -> dict[str, tuple[str, Any]]:
    """Each feature of a tf.Example as (kind, its value or None when absent)."""
    values = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        listed = list(getattr(feature, kind).value)
        value = listed[0] if listed else None
        values[name] = (kind, value.decode() if isinstance(value, bytes) else value)
    return values


def _same(kind: str, local: Any, queried: Any) -> bool:
    if local is None or queried is None:
        return local is None and queried is None
    if kind == "float_list":
        # A tf.Example holds float32, whichever source wrote it: compare at that precision.
        return float(np.float32(queried)) == local
    return local == queried


# The second rule divides by a fare that is 0 on one line: no label there on both paths
# (SAFE_DIVIDE's NULL), so that row is left out by both. The third compares a column's
# text.
@pytest.mark.parametrize("label_rule, left_out", [
    ("tips > 0.2 * fare", 0), ("tips / fare < 0.25", 1), ("payment_type == 'Cash'", 0)])
def test_query_returns_what_the_local_path_writes_for_every_row(
        client: bigquery.Client, trips_table: str, trips: list[dict[str, Any]],
        label_rule: str, left_out: int) -> None:
    config = _config(label_rule=label_rule, **whole_testdata_window(trips))
    # The hour, day and month columns of the testdata are the query's derived columns.
    assert {name for trip in trips for name in trip} - TABLE_COLUMNS \
        == set(config.bigquery_derived_columns)
    schema, result = _run(client, config)
    converter = RowConverter(IngestionSettings.from_config(config))
    labelled = [(line_number, trip) for line_number, trip in enumerate(trips, start=1)
                if converter.convert(trip, f"line {line_number}") is not None]
    assert len(trips) - len(labelled) == left_out
    assert _keys(result) == _keys([trip for _, trip in labelled])

    queried_by_key = {row["unique_key"]: row for row in result}
    kinds: dict[str, str] = {}
    differences = []
    for line_number, trip in labelled:
        queried = queried_by_key[trip["unique_key"]]
        local = _example_values(converter.convert(trip, f"line {line_number}"))
        assert set(local) == set(queried)
        for name, (kind, value) in local.items():
            kinds[name] = kind
            if not _same(kind, value, queried[name]):
                differences.append(f"line {line_number} {name}: local {value!r}, "
                                   f"BigQuery {queried[name]!r}")
    assert not differences, f"{len(differences)} differences, e.g. {differences[:5]}"
    intended = {**dict.fromkeys(config.numeric_features + config.bucketized_features, "FLOAT"),
                **dict.fromkeys(config.categorical_features, "STRING"),
                config.label_name: "INTEGER"}
    assert [(field.name, field.field_type) for field in schema] == list(intended.items())
    assert {name: RESULT_TYPE_OF_EXAMPLE_KIND[kind] for name, kind in kinds.items()} == intended
    assert 0 < sum(row[config.label_name] for row in result) < len(result)  # both labels


def test_date_window_selects_exactly_the_trips_in_it(
        client: bigquery.Client, trips_table: str, trips: list[dict[str, Any]]) -> None:
    start = datetime.datetime(2014, 3, 6, tzinfo=UTC)
    end = datetime.datetime(2014, 9, 13, tzinfo=UTC)
    started = {trip["unique_key"]: datetime.datetime.fromtimestamp(
        trip["trip_start_timestamp"], UTC) for trip in trips}
    assert {start, end} <= set(started.values())  # trips on both bounds: inclusive, exclusive
    _, result = _run(client, _config(bigquery_start_date=start.date().isoformat(),
                                     bigquery_end_date=end.date().isoformat()))
    assert _keys(result) == sorted(key for key, at in started.items() if start <= at < end)


def test_emulator_fingerprints_as_bigquery_documents(client: bigquery.Client) -> None:
    # The examples of FARM_FINGERPRINT in BigQuery's reference: with the same hash, the
    # emulator samples exactly the rows BigQuery would.
    query = ("SELECT FARM_FINGERPRINT('1footrue'), FARM_FINGERPRINT('2applefalse'), "
             "FARM_FINGERPRINT('3true')")
    (row,) = client.query(query).result(timeout=60)
    assert tuple(row) == (-1541654101129638711, 2794438866806483259, -4880158226897771312)


def test_sampling_keeps_the_share_asked_for_and_the_same_rows_every_run(
        client: bigquery.Client, trips_table: str, trips: list[dict[str, Any]]) -> None:
    window = whole_testdata_window(trips)
    sample = _keys(_run(client, _config(bigquery_sample_percent=30, **window))[1])
    assert _keys(_run(client, _config(bigquery_sample_percent=30, **window))[1]) == sample
    expected, spread = 0.3 * len(trips), math.sqrt(len(trips) * 0.3 * 0.7)
    assert abs(len(sample) - expected) < 5 * spread, (len(sample), expected)
    # A larger share keeps every row of a smaller one.
    larger = _keys(_run(client, _config(bigquery_sample_percent=60, **window))[1])
    assert set(sample) < set(larger)


def test_window_days_reads_the_whole_days_before_today(
        client: bigquery.Client, dataset: str, trips: list[dict[str, Any]]) -> None:
    window_days = 7
    for _ in range(2):  # a second time only if the UTC day changed during the first
        today = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        day = datetime.timedelta(days=1)
        second = datetime.timedelta(seconds=1)
        starts = {  # trip name: start, and whether a 7-day window holds it
            "today_at_midnight": (today, False),
            "today_at_noon": (today + day / 2, False),
            "yesterday_last_second": (today - second, True),
            "three_days_ago": (today - 3 * day + day / 2, True),
            "seven_days_ago_at_midnight": (today - window_days * day, True),
            "just_before_seven_days_ago": (today - window_days * day - second, False),
            "ten_days_ago": (today - 10 * day, False),
            "tomorrow": (today + day, False),
        }
        table = f"{PROJECT}.{dataset}.recent_trips_{today:%Y%m%d}"
        load_table(client, table, [
            {**trips[0], "unique_key": name, "trip_start_timestamp": int(start.timestamp())}
            for name, (start, _) in starts.items()
        ])
        # The fixed dates (January 2019) would hold none of these trips.
        _, result = _run(client, _config(bigquery_table=table,
                                         bigquery_window_days=window_days))
        if datetime.datetime.now(UTC) < today + day:
            break
    assert _keys(result) == sorted(name for name, (_, kept) in starts.items() if kept)


# Regression by a rule (rows where it is undefined, a null or zero fare, left out on both
# paths), and a multi-class label that is a string column, with a text feature beside it.
def test_a_rule_over_a_missing_value_leaves_the_row_out_on_both_sources(
        client: bigquery.Client, dataset: str, trips: list[dict[str, Any]]) -> None:
    """A trip without a recorded tip cannot be called a big tipper or not: the rule gives
    it no label, and both the query and the file reader leave the same rows out; a
    binary label column written as strings (positive_class) reads the same on both."""
    gaps = [dict(trip, tips=None) if index % 7 == 0 else trip
            for index, trip in enumerate(trips)]
    table = f"{PROJECT}.taxi.trips_with_gaps"
    load_table(client, table, gaps)
    config = _config(bigquery_table=table, **whole_testdata_window(trips))
    _, result = _run(client, config)
    converter = RowConverter(IngestionSettings.from_config(config))
    local = [trip for line_number, trip in enumerate(gaps, start=1)
             if converter.convert(trip, f"line {line_number}") is not None]
    assert len(gaps) - len(local) == sum(trip["tips"] is None for trip in gaps) > 0
    assert _keys(result) == _keys(local)
    by_class = _config(bigquery_table=table, label_rule="", label_name="payment_type",
                       positive_class="Cash",
                       categorical_features=tuple(name for name in _config().categorical_features
                                                  if name != "payment_type"),
                       **whole_testdata_window(trips))
    _, result = _run(client, by_class)
    converter = RowConverter(IngestionSettings.from_config(by_class))
    local_labels = {trip["unique_key"]: _example_values(example)["payment_type"][1]
                    for line_number, trip in enumerate(gaps, start=1)
                    if (example := converter.convert(trip, f"line {line_number}")) is not None}
    assert {row["unique_key"]: row["payment_type"] for row in result} == local_labels
    assert 0 < sum(local_labels.values()) < len(local_labels)


@pytest.mark.parametrize("task, label_name, label_rule, label_type, some_undefined", [
    ("regression", "tip_share", "tips / fare", "FLOAT", True),
    ("multiclass", "payment_type", "", "STRING", False),
])
def test_other_tasks_label_the_rows_the_local_path_labels(
        client: bigquery.Client, trips_table: str, trips: list[dict[str, Any]], task: str,
        label_name: str, label_rule: str, label_type: str, some_undefined: bool) -> None:
    categorical = tuple(name for name in _config().categorical_features
                        if name not in (label_name, "company"))
    config = _config(task=task, label_name=label_name, label_rule=label_rule,
                     categorical_features=categorical, text_features=("company",),
                     **whole_testdata_window(trips))
    schema, result = _run(client, config)
    converter = RowConverter(IngestionSettings.from_config(config))
    local = {trip["unique_key"]: _example_values(example) for line_number, trip
             in enumerate(trips, start=1)
             if (example := converter.convert(trip, f"line {line_number}")) is not None}
    if some_undefined:  # a few trips have no fare, so no tip share
        assert 0 < len(trips) - len(local) < len(trips) / 10
    assert _keys(result) == sorted(local)
    differences = [f"{row['unique_key']} {name}: local {value!r}, BigQuery {row[name]!r}"
                   for row in result
                   for name, (kind, value) in local[row["unique_key"]].items()
                   if not _same(kind, value, row[name])]
    assert not differences, f"{len(differences)} differences, e.g. {differences[:5]}"
    types = {field.name: field.field_type for field in schema}
    assert types[label_name] == label_type and types["company"] == "STRING"


def test_a_table_to_score_is_read_without_a_label_and_predictions_append(
        client: bigquery.Client, trips_table: str, trips: list[dict[str, Any]],
        dataset: str, tmp_path: Path) -> None:
    """batch_predict.py on BigQuery: the scoring query returns every row with its key and
    no label; BatchScorer's lines append to a predictions table."""
    from pipeline.components.batch_scorer import append_to_bigquery
    from pipeline.settings import SOURCE_FEATURE
    from pipeline.settings.bigquery import scoring_query
    from tasks import task_named

    config = taxi_config(data_source="bigquery", scoring_bigquery_table=TRIPS_TABLE,
                         key_columns=("unique_key",), passthrough_columns=("company",))
    rows = [dict(row) for row in client.query(scoring_query(config)).result(timeout=60)]
    assert sorted(row["unique_key"] for row in rows) == _keys(trips)
    assert config.label_name not in rows[0] and "tips" not in rows[0]
    assert {row[SOURCE_FEATURE] for row in rows} == {TRIPS_TABLE}

    lines = [{"source": TRIPS_TABLE, "unique_key": row["unique_key"],
              "company": row["company"], "probability": index / len(rows)}
             for index, row in enumerate(rows)]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    table = f"{PROJECT}.{dataset}.predictions"
    assert append_to_bigquery(str(path), table, task_named("binary"), ["unique_key", "company"],
                              client) == len(lines)
    stored = {row["unique_key"]: row["probability"]
              for row in client.query(f"SELECT unique_key, probability FROM `{table}`")
              .result(timeout=60)}
    assert stored == {line["unique_key"]: pytest.approx(line["probability"]) for line in lines}



def test_bigquery_rows_become_examples_with_nulls_as_empty_typed_lists(
        client: bigquery.Client, trips_table: str, trips: list[dict[str, Any]]) -> None:
    """The BigQuery ExampleGen writes a NULL as the file ExampleGen writes a missing value
    (an empty list of the column's kind), not as TFX's kind-less Feature, which the data
    checks read as the column missing from the example."""
    from pipeline.components.bigquery_example_gen import row_to_example

    schema, rows = _run(client, _config(**whole_testdata_window(trips)))
    types = {field.name: field.field_type for field in schema}
    nulls = 0
    for row in rows:
        example = row_to_example(types, row)
        for name, value in row.items():
            kind = example.features.feature[name].WhichOneof("kind")
            assert kind == RESULT_KIND_OF_TYPE[types[name]], (name, kind)
            nulls += value is None
    assert nulls > 0  # testdata has NULLs (company, census tracts, ...)


RESULT_KIND_OF_TYPE = {kind: example_kind
                       for example_kind, kind in RESULT_TYPE_OF_EXAMPLE_KIND.items()}
