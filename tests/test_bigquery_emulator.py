"""The generated BigQuery query, run for real on bqemulator against the testdata rows.

The rows are loaded into a table with the public taxi table's columns and types, and each
answer is compared with what the local JSON-lines path writes for the same lines, or with
a Python filter of them. The emulator needs Python 3.11, so it runs as a server from its
own venv (.venv-bqemulator, made by scripts/bootstrap.sh) on free local ports; neither it
nor the client reaches the network.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import math
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from pipeline.components.example_gen import RowConverter
from pipeline.settings import REPOSITORY_ROOT, IngestionSettings, PipelineConfig
from pipeline.settings.bigquery import bigquery_query
from tests.configs import taxi_config

if TYPE_CHECKING:
    import tensorflow as tf

PROJECT = "test-project"
TRIPS_TABLE = f"{PROJECT}.taxi.taxi_trips"
EMULATOR_VENV = REPOSITORY_ROOT / ".venv-bqemulator"
START_TIMEOUT_S = 60
UTC = datetime.timezone.utc

# The columns and types of bigquery-public-data.chicago_taxi_trips.taxi_trips.
TABLE_SCHEMA = [
    bigquery.SchemaField(name, field_type) for name, field_type in (
        ("unique_key", "STRING"), ("taxi_id", "STRING"),
        ("trip_start_timestamp", "TIMESTAMP"), ("trip_end_timestamp", "TIMESTAMP"),
        ("trip_seconds", "INT64"), ("trip_miles", "FLOAT64"),
        ("pickup_census_tract", "INT64"), ("dropoff_census_tract", "INT64"),
        ("pickup_community_area", "INT64"), ("dropoff_community_area", "INT64"),
        ("fare", "FLOAT64"), ("tips", "FLOAT64"), ("tolls", "FLOAT64"), ("extras", "FLOAT64"),
        ("trip_total", "FLOAT64"), ("payment_type", "STRING"), ("company", "STRING"),
        ("pickup_latitude", "FLOAT64"), ("pickup_longitude", "FLOAT64"),
        ("pickup_location", "GEOGRAPHY"),
        ("dropoff_latitude", "FLOAT64"), ("dropoff_longitude", "FLOAT64"),
        ("dropoff_location", "GEOGRAPHY"),
    )
]
TABLE_COLUMNS = {field.name for field in TABLE_SCHEMA}
# A query result's schema names FLOAT64 and INT64 the API's way.
RESULT_TYPE_OF_EXAMPLE_KIND = {"float_list": "FLOAT", "bytes_list": "STRING",
                               "int64_list": "INTEGER"}


def _free_ports(count: int) -> list[int]:
    """Ports free at this moment, held open together so that they differ."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _wait_until_ready(endpoint: str, server: subprocess.Popen, log_path: Path) -> None:
    url = f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets"
    deadline = time.monotonic() + START_TIMEOUT_S
    while server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                pytest.fail(f"bqemulator did not answer {url} within {START_TIMEOUT_S} s; "
                            f"its log: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
    pytest.fail(f"bqemulator exited with code {server.returncode} while starting; its log: "
                f"{log_path.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def emulator_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Starts the emulator on free ports of 127.0.0.1 and stops it after this module."""
    if not (EMULATOR_VENV / ".installed-from").is_file():
        pytest.fail(f"The BigQuery emulator's venv {EMULATOR_VENV} is missing or incomplete; "
                    "run scripts/bootstrap.sh.")
    rest_port, grpc_port = _free_ports(2)
    work_dir = tmp_path_factory.mktemp("bqemulator")
    log_path = work_dir / "server.log"
    environment = {
        "PATH": os.environ["PATH"],
        # bootstrap.sh registered the spatial extension under this HOME, so DuckDB loads it
        # from disk instead of downloading it.
        "HOME": str(EMULATOR_VENV / "home"),
        "TMPDIR": str(work_dir),
        # Avro is the one extension bqemulator would otherwise try to download at start;
        # these tests load JSON.
        "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false",
    }
    command = [str(EMULATOR_VENV / "bin" / "bqemulator"), "start",
               "--rest-host", "127.0.0.1", "--rest-port", str(rest_port),
               "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port),
               "--project", PROJECT, "--ephemeral", "--log-level", "warning"]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=environment, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        endpoint = f"http://127.0.0.1:{rest_port}"
        _wait_until_ready(endpoint, server, log_path)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def client(emulator_endpoint: str) -> bigquery.Client:
    return bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(),
                           client_options={"api_endpoint": emulator_endpoint})


@pytest.fixture(scope="module")
def trips() -> list[dict[str, Any]]:
    """The rows the local pipeline reads, each with a unique_key made from its line."""
    rows = []
    with open(taxi_config().resolved_data_path()) as handle:
        for line in handle:
            row = json.loads(line)
            # 40 hex digits, like the public table's keys.
            row["unique_key"] = hashlib.sha1(line.encode()).hexdigest()
            rows.append(row)
    return rows


def _load_table(client: bigquery.Client, table_id: str, rows: list[dict[str, Any]]) -> None:
    """Creates `table_id` like the public table and loads `rows`; absent columns stay NULL."""
    records = []
    for row in rows:
        record = {name: value for name, value in row.items() if name in TABLE_COLUMNS}
        start = datetime.datetime.fromtimestamp(row["trip_start_timestamp"], UTC)
        record["trip_start_timestamp"] = start.isoformat()
        records.append(record)
    client.create_table(bigquery.Table(table_id, schema=TABLE_SCHEMA))
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    # No size given, so the client uploads resumably: its multipart upload (used when the
    # size is known) labels the data '*/*', which bqemulator refuses.
    job = client.load_table_from_file(
        io.BytesIO(data), table_id,
        job_config=bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON",
                                          schema=TABLE_SCHEMA))
    job.result(timeout=60)


@pytest.fixture(scope="module")
def dataset(client: bigquery.Client) -> str:
    return client.create_dataset(f"{PROJECT}.taxi").dataset_id


@pytest.fixture(scope="module")
def trips_table(client: bigquery.Client, dataset: str, trips: list[dict[str, Any]]) -> str:
    _load_table(client, TRIPS_TABLE, trips)
    return TRIPS_TABLE


def _config(**overrides: Any) -> PipelineConfig:
    """The default configuration on the loaded table, selecting the row key as well.

    The key comes back as one more categorical column, so that each result row can be
    compared with its own JSON line.
    """
    categorical = (*taxi_config().categorical_features, "unique_key")
    return taxi_config(**{"bigquery_table": TRIPS_TABLE,
                             "categorical_features": categorical, **overrides})


def _whole_testdata_window(trips: list[dict[str, Any]]) -> dict[str, str]:
    days = [datetime.datetime.fromtimestamp(trip["trip_start_timestamp"], UTC).date()
            for trip in trips]
    return {"bigquery_start_date": min(days).isoformat(),
            "bigquery_end_date": (max(days) + datetime.timedelta(days=1)).isoformat()}


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
    config = _config(label_rule=label_rule, **_whole_testdata_window(trips))
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
    window = _whole_testdata_window(trips)
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
        _load_table(client, table, [
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
    _load_table(client, table, gaps)
    config = _config(bigquery_table=table, **_whole_testdata_window(trips))
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
                       **_whole_testdata_window(trips))
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
                     **_whole_testdata_window(trips))
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
    no label; PredictionWriter's lines append to a predictions table."""
    from pipeline.components.prediction_writer import append_to_bigquery
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



def _task_states(transcript: str) -> dict[str, list[str]]:
    """What a dry run says of each task on the task's own line, by the task's name: the
    line that starts (after its two spaces of indent) with the name, e.g. "  Trainer
    succeeded   51.3 s" gives {"Trainer": ["succeeded"]}. The compiled pipeline's listing
    above it is indented further and left out; "  Evaluator: blessed" and the like land
    under "Evaluator:", apart from the task."""
    states: dict[str, list[str]] = {}
    for line in transcript.splitlines():
        if own_line := re.match(r"^  (\S+)\s+(\S+)", line):
            states.setdefault(own_line.group(1), []).append(own_line.group(2))
    return states


@pytest.mark.e2e
def test_the_compiled_vertex_pipeline_runs_here_task_by_task(
        emulator_endpoint: str, trips_table: str, trips: list[dict[str, Any]],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`vertex_runner.py dry-run --variant=vertex` on testdata (loaded into the emulator):
    every task of the compiled JSON runs through Vertex's executor entry point, the
    substitutions are listed, the model is blessed and pushed; a second dry run resolves
    the first one's blessed model as its baseline."""
    import vertex_runner

    monkeypatch.setenv("DRY_RUN_BIGQUERY_ENDPOINT", emulator_endpoint)
    window = _whole_testdata_window(trips)
    flags = ["--variant=vertex", "--gcp_project=tipper-project",
             "--gcs_root=gs://tipper-bucket/tfx", f"--bigquery_table={trips_table}",
             "--bigquery_window_days=0", f"--bigquery_start_date={window['bigquery_start_date']}",
             f"--bigquery_end_date={window['bigquery_end_date']}",
             "--bigquery_sample_percent=100", f"--output_root={tmp_path}",
             "--sandbox_seconds=1"]  # training sized as by default: the model is blessed
    assert vertex_runner.main(["dry-run", *flags]) == 0, capsys.readouterr().err
    first = capsys.readouterr().out
    if os.environ.get("DRY_RUN_TRANSCRIPT"):  # for a person reading what ran
        Path(os.environ["DRY_RUN_TRANSCRIPT"]).write_text(first)
    states = _task_states(first)
    for task in ("ExampleGen", "Transform", "Trainer", "Evaluator", "ServingSandbox",
                 "Pusher"):
        assert states.get(task) == ["succeeded"], (task, states)
    assert "ExampleGen: BigQuery -> the generated query on the BigQuery emulator" in first
    assert "Dataflow -> Beam's direct runner" in first
    assert "Trainer: Vertex AI Training -> the same run_fn in a local process" in first
    assert "Pusher: Vertex AI endpoint deploy -> a local push" in first
    assert "Evaluator: blessed" in first and "Pusher: pushed to" in first
    assert "model_blessing: 0" in first  # nothing blessed before the first run

    # A second dry run's resolvers find the first run's blessed model and accepted
    # statistics. Only the resolver tasks run again: the rest would be the first run over.
    from pipeline.orchestration.vertex_dry_run import dry_run

    spec = json.loads((tmp_path / "vertex" / "big-tipper.json").read_text())
    pipeline_spec = spec["pipelineSpec"]
    executors = pipeline_spec["deploymentSpec"]["executors"]
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    pipeline_spec["root"]["dag"]["tasks"] = {
        name: task for name, task in tasks.items()
        if "resolver" in executors[pipeline_spec["components"][
            task["componentRef"]["name"]]["executorLabel"]]}
    assert len(pipeline_spec["root"]["dag"]["tasks"]) == 3
    second: list[str] = []
    result = dry_run(spec, tmp_path / "vertex-dry-run" / "big-tipper", echo=second.append)
    [model] = result.outputs["LatestBlessedModelResolver-model-resolver"]["model"]
    assert model["uri"].endswith("/Trainer/model")
    first_run_id = "run-" + first.split("Dry run run-", 1)[1].split(":", 1)[0]
    assert Path(model["uri"]).parent.parent.name == first_run_id
    assert any("model: 1" in line for line in second)
    [statistics] = result.outputs["LastAcceptedStatisticsResolver"]["statistics"]
    assert statistics["uri"].endswith("/DataAnomalyGate/accepted_statistics")


def test_bigquery_rows_become_examples_with_nulls_as_empty_typed_lists(
        client: bigquery.Client, trips_table: str, trips: list[dict[str, Any]]) -> None:
    """The BigQuery ExampleGen writes a NULL as the file ExampleGen writes a missing value
    (an empty list of the column's kind), not as TFX's kind-less Feature, which the data
    checks read as the column missing from the example."""
    from pipeline.components.bigquery_example_gen import row_to_example

    schema, rows = _run(client, _config(**_whole_testdata_window(trips)))
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
