"""The BigQuery query generated from the feature configuration."""

from __future__ import annotations

import datetime

import pytest

from pipeline.settings.bigquery import bigquery_query
from pipeline.settings.values import ConfigError
from tests.configs import taxi_config


def test_query_selects_configured_features_with_local_types_and_the_label() -> None:
    config = taxi_config()
    query = bigquery_query(config)
    assert "FROM `bigquery-public-data.chicago_taxi_trips.taxi_trips`" in query
    assert "CAST(fare AS FLOAT64) AS fare" in query
    assert "CAST(payment_type AS STRING) AS payment_type" in query
    assert ("CAST(EXTRACT(HOUR FROM trip_start_timestamp) AS STRING) AS trip_start_hour"
            in query)
    assert ("CASE WHEN tips > (0.2 * fare) THEN 1 WHEN NOT (tips > (0.2 * fare)) THEN 0 END "
            "AS big_tipper") in query
    assert "trip_start_timestamp >= TIMESTAMP('2019-01-01')" in query
    assert "trip_start_timestamp < TIMESTAMP('2019-02-01')" in query
    assert "FARM_FINGERPRINT" not in query  # 100%: no sampling
    for name in config.raw_feature_names:
        assert f" AS {name}" in query


def test_sampling_hashes_the_row_key() -> None:
    query = bigquery_query(taxi_config(bigquery_sample_percent=2.5))
    assert "MOD(ABS(FARM_FINGERPRINT(CAST(unique_key AS STRING))), 10000) < 250" in query


@pytest.mark.parametrize(("overrides", "message"), [
    ({"bigquery_table": "just_a_table"}, "bigquery_table='just_a_table'"),
    ({"bigquery_start_date": "2019-13-01"}, "bigquery_start_date='2019-13-01'"),
    ({"bigquery_start_date": "2019-03-01"}, "must come before"),
])
def test_bad_bigquery_settings(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        bigquery_query(taxi_config(**overrides))


def test_window_days_reads_the_whole_days_before_the_day_the_query_runs() -> None:
    # Fixed dates that would be refused show they are neither checked nor used.
    query = bigquery_query(taxi_config(bigquery_window_days=7,
                                       bigquery_start_date="not a date"))
    today = "TIMESTAMP_TRUNC(CURRENT_TIMESTAMP(), DAY)"
    assert (f"trip_start_timestamp >= TIMESTAMP_SUB({today}, INTERVAL 7 DAY)\n"
            f"  AND trip_start_timestamp < {today}") in query
    assert "TIMESTAMP('" not in query


def test_negative_window_days_is_refused() -> None:
    # The limit is declared on the setting, so the configuration itself refuses it.
    with pytest.raises(ConfigError, match="bigquery_window_days must be at least 0, got -1"):
        bigquery_query(taxi_config(bigquery_window_days=-1).check())


def test_window_fixed_to_one_run_day_names_its_dates() -> None:
    # A local run fixes the window's end to its own day, so the query text, and with it
    # ExampleGen's cache key, changes from one day to the next.
    query = bigquery_query(taxi_config(bigquery_window_days=7), datetime.date(2026, 3, 2))
    assert ("trip_start_timestamp >= TIMESTAMP('2026-02-23')\n"
            "  AND trip_start_timestamp < TIMESTAMP('2026-03-02')") in query
    assert "CURRENT_TIMESTAMP" not in query
    assert bigquery_query(taxi_config(), datetime.date(2026, 3, 2)) == \
        bigquery_query(taxi_config()), "a fixed date window ignores the run day"
