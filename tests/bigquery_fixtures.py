"""The BigQuery emulator and the testdata table in it, for every test module that needs
them (registered in tests/conftest.py as a plugin): bqemulator needs Python 3.11, so it
runs as a server from its own venv (.venv-bqemulator, made by scripts/bootstrap.sh) on
free local ports; neither it nor the client reaches the network. Each module that asks
for it gets its own server (module scope)."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from pipeline.loopback import free_ports
from pipeline.settings import REPOSITORY_ROOT
from tests.configs import taxi_config
from tests.servers import stop

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
    rest_port, grpc_port = free_ports(2)
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
        stop(server, timeout=10)


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


def load_table(client: bigquery.Client, table_id: str, rows: list[dict[str, Any]]) -> None:
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
    load_table(client, TRIPS_TABLE, trips)
    return TRIPS_TABLE



def whole_testdata_window(trips: list[dict[str, Any]]) -> dict[str, str]:
    days = [datetime.datetime.fromtimestamp(trip["trip_start_timestamp"], UTC).date()
            for trip in trips]
    return {"bigquery_start_date": min(days).isoformat(),
            "bigquery_end_date": (max(days) + datetime.timedelta(days=1)).isoformat()}
