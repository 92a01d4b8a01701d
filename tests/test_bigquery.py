"""The BigQuery query generated from the feature configuration."""

from __future__ import annotations

import pytest

from pipeline.bigquery import bigquery_query
from pipeline.config import ConfigError, PipelineConfig


def test_query_selects_configured_features_with_local_types_and_the_label() -> None:
    config = PipelineConfig()
    query = bigquery_query(config)
    assert "FROM `bigquery-public-data.chicago_taxi_trips.taxi_trips`" in query
    assert "CAST(fare AS FLOAT64) AS fare" in query
    assert "CAST(payment_type AS STRING) AS payment_type" in query
    assert ("CAST(EXTRACT(HOUR FROM trip_start_timestamp) AS STRING) AS trip_start_hour"
            in query)
    assert "IF(tips > (0.2 * fare), 1, 0) AS big_tipper" in query
    assert "trip_start_timestamp >= TIMESTAMP('2019-01-01')" in query
    assert "trip_start_timestamp < TIMESTAMP('2019-02-01')" in query
    assert "FARM_FINGERPRINT" not in query  # 100%: no sampling
    for name in config.raw_feature_names:
        assert f" AS {name}" in query


def test_sampling_hashes_the_row_key() -> None:
    query = bigquery_query(PipelineConfig(bigquery_sample_percent=2.5))
    assert "MOD(ABS(FARM_FINGERPRINT(CAST(unique_key AS STRING))), 10000) < 250" in query


@pytest.mark.parametrize(("overrides", "message"), [
    ({"bigquery_table": "just_a_table"}, "bigquery_table='just_a_table'"),
    ({"bigquery_start_date": "2019-13-01"}, "bigquery_start_date='2019-13-01'"),
    ({"bigquery_start_date": "2019-03-01"}, "must come before"),
])
def test_bad_bigquery_settings(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        bigquery_query(PipelineConfig(**overrides))
