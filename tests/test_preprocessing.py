"""`preprocessing_fn` run through tf.Transform's Beam implementation on testdata rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow_transform as tft

from pipeline.settings import PipelineConfig
from preprocessing import feature_shapes
from tests.helpers import sample_rows, transform_rows


def test_numeric_features_are_z_scored_with_missing_values_imputed(
        transform_output_dir: Path, default_config: PipelineConfig) -> None:
    """Every numeric feature is scaled by its own mean and population standard deviation
    over the values present in the fitted rows (numpy's figures, to float32 precision),
    missing values become 0, and a feature's scaling does not leak into another's."""
    rows = sample_rows(300)  # the rows transform_output_dir was fitted on
    outputs = transform_rows(transform_output_dir, default_config, rows)
    for name in default_config.numeric_features:
        raw = np.array([np.nan if row.get(name) is None else float(row[name]) for row in rows])
        present = raw[~np.isnan(raw)]
        expected = np.where(np.isnan(raw), 0.0, (raw - present.mean()) / present.std())
        np.testing.assert_allclose(outputs[name].numpy(), expected, rtol=1e-4, atol=1e-5,
                                   err_msg=name)
    missing_row = dict(rows[0], **{name: None for name in default_config.numeric_features})
    imputed = transform_rows(transform_output_dir, default_config, [missing_row])
    for name in default_config.numeric_features:
        assert imputed[name].numpy().tolist() == [0.0], name  # the mean, after scaling


def test_bucketized_features_get_quantile_ids_and_a_missing_id(
        transform_output_dir: Path, default_config: PipelineConfig) -> None:
    rows = sample_rows(300)
    buckets = transform_rows(transform_output_dir, default_config, rows)["pickup_latitude"]
    ids = buckets.numpy()
    assert ids.min() >= 0 and ids.max() < default_config.bucket_count
    assert len(np.unique(ids)) >= default_config.bucket_count // 2  # spread, not one bucket
    missing = transform_rows(transform_output_dir, default_config,
                             [dict(rows[0], pickup_latitude=None)])["pickup_latitude"]
    assert missing.numpy().tolist() == [default_config.bucket_count]


def test_categorical_features_use_the_vocabulary_and_oov_buckets(
        transform_output_dir: Path, default_config: PipelineConfig) -> None:
    output = tft.TFTransformOutput(str(transform_output_dir))
    vocabulary = [token.decode() for token in
                  output.vocabulary_by_name("payment_type")]
    assert set(vocabulary) >= {"Cash", "Credit Card"}
    rows = [dict(sample_rows(1)[0], payment_type=value)
            for value in ("Cash", "Credit Card", "Bitcoin")]
    ids = transform_rows(transform_output_dir, default_config, rows)["payment_type"].numpy()
    assert ids[0] == vocabulary.index("Cash")
    assert ids[1] == vocabulary.index("Credit Card")
    assert len(vocabulary) <= ids[2] < len(vocabulary) + default_config.oov_buckets


def test_label_passes_through(transform_output_dir: Path,
                              default_config: PipelineConfig) -> None:
    rows = sample_rows(50)
    expected = [int((row["tips"] or 0) > 0.2 * (row["fare"] or 0)) for row in rows]
    labels = transform_rows(transform_output_dir, default_config, rows)["big_tipper"]
    assert labels.numpy().tolist() == expected


def test_feature_shapes_come_from_the_transform_output(
        transform_output_dir: Path, default_config: PipelineConfig) -> None:
    output = tft.TFTransformOutput(str(transform_output_dir))
    shapes = feature_shapes(output, default_config)
    assert shapes.numeric == default_config.numeric_features
    assert shapes.categorical_cardinalities["payment_type"] == (
        output.vocabulary_size_by_name("payment_type") + default_config.oov_buckets)
    assert shapes.categorical_cardinalities["pickup_latitude"] == default_config.bucket_count + 1
    assert set(shapes.categorical_cardinalities) == set(
        default_config.categorical_features + default_config.bucketized_features)
