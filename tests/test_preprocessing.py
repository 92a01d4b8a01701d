"""`preprocessing_fn` run through tf.Transform's Beam implementation on testdata rows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from models.shapes import PIECEWISE_LINEAR, numeric_width
from pipeline.settings import PipelineConfig
from pipeline.settings.label import LabelRule
from preprocessing import feature_shapes, piecewise_linear
from tests.helpers import (
    fit_transform,
    raw_feature_spec,
    sample_rows,
    serialized_examples,
    transform_rows,
)


def _z_scores(raw: np.ndarray) -> np.ndarray:
    """numpy's z-score over the present values (population deviation), 0 where missing."""
    present = raw[~np.isnan(raw)]
    return np.where(np.isnan(raw), 0.0, (raw - present.mean()) / present.std())


def _numpy_piecewise_linear(raw: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """The reference encoding of one column: how far through each bin between
    consecutive boundaries (a zero-width bin: x >= its edge), the z-score clipped to
    [-5, 5], a missing flag; every bin 0 for a missing value."""
    x = np.where(np.isnan(raw), 0.0, raw)[:, None]
    low, high = boundaries[None, :-1], boundaries[None, 1:]
    width = high - low
    through = np.where(width > 0, np.clip((x - low) / np.where(width > 0, width, 1), 0, 1),
                       (x >= low).astype(float))
    through[np.isnan(raw)] = 0.0
    return np.concatenate([through, np.clip(_z_scores(raw), -5, 5)[:, None],
                           np.isnan(raw)[:, None].astype(float)], axis=1)


def test_the_piecewise_linear_encoding_equals_numpys() -> None:
    """The encoding Transform applies, on values below, inside, on the edges of and beyond
    the bins, missing values and a zero-width bin (a value many rows share)."""
    raw = np.array([[-3.0, 0.0], [0.0, 1.0], [0.5, 1.0], [1.0, np.nan], [1.75, 2.0],
                    [2.5, 7.0], [np.nan, 3.0], [9.0, -1.0]])
    boundaries = np.array([[0.0, 1.0, 2.5, 4.0], [1.0, 1.0, 2.0, 3.0]])
    z = np.stack([_z_scores(raw[:, column]) for column in range(2)], axis=1)
    encoded = piecewise_linear(tf.constant(raw, tf.float32), tf.constant(z, tf.float32),
                               tf.constant(boundaries, tf.float32)).numpy()
    assert encoded.shape == (8, 2, numeric_width(PIECEWISE_LINEAR, 5))
    for column in range(2):
        np.testing.assert_allclose(
            encoded[:, column], _numpy_piecewise_linear(raw[:, column], boundaries[column]),
            rtol=1e-6, atol=1e-6, err_msg=f"column {column}")


def test_numeric_features_are_encoded_over_the_train_splits_quantiles(
        transform_output_dir: Path, default_config: PipelineConfig) -> None:
    """The default encoding on testdata: the z-score (numpy's mean and population
    deviation over the fitted rows' present values), the missing flag, and bins over
    quantiles of the fitted rows: numpy's reference over numpy's quantiles (inverted
    CDF), where tf.Transform's quantile sketch may pick a neighbouring value for a
    boundary, so each row's total through the bins is within one bin of numpy's."""
    assert default_config.numeric_encoding == PIECEWISE_LINEAR
    rows = sample_rows(300)  # the rows transform_output_dir was fitted on
    outputs = transform_rows(transform_output_dir, default_config, rows)
    bins = default_config.numeric_bins
    for name in default_config.numeric_features:
        raw = np.array([np.nan if row.get(name) is None else float(row[name]) for row in rows],
                       dtype=np.float32).astype(np.float64)
        encoded = outputs[name].numpy()
        assert encoded.shape == (len(rows), numeric_width(PIECEWISE_LINEAR, bins))
        boundaries = np.quantile(raw[~np.isnan(raw)], np.arange(1, bins) / bins,
                                 method="inverted_cdf")
        expected = _numpy_piecewise_linear(raw, boundaries)
        np.testing.assert_allclose(encoded[:, -2:], expected[:, -2:], rtol=1e-4, atol=1e-5,
                                   err_msg=name)
        totals, expected_totals = encoded[:, :-2].sum(axis=1), expected[:, :-2].sum(axis=1)
        assert np.abs(totals - expected_totals).max() <= 1.0 + 1e-5, name
        assert np.mean(np.isclose(encoded[:, :-2], expected[:, :-2], atol=1e-5)) > 0.97, name
        # The bins order the rows as their values do.
        order = np.argsort(raw[~np.isnan(raw)], kind="stable")
        assert np.all(np.diff(totals[~np.isnan(raw)][order]) >= -1e-6), name
    # A row the rule can still label (a rule over a missing value gives none).
    missing = _not_in_the_rule(default_config)
    imputed = transform_rows(transform_output_dir, default_config,
                             [dict(rows[0], **dict.fromkeys(missing))])
    for name in missing:
        assert imputed[name].numpy().tolist() == [[0.0] * (bins - 1) + [1.0]], name


def test_the_standard_encoding_is_the_z_score_with_missing_values_imputed(
        tmp_path: Path, default_config: PipelineConfig) -> None:
    """numeric_encoding=standard: every numeric feature scaled by its own mean and
    population standard deviation over the values present in the fitted rows (numpy's
    figures, to float32 precision), missing values 0, no feature's scaling leaking into
    another's."""
    config = dataclasses.replace(default_config, numeric_encoding="standard")
    rows = sample_rows(300)
    fit_transform(config, rows, tmp_path)
    outputs = transform_rows(tmp_path, config, rows)
    for name in config.numeric_features:
        raw = np.array([np.nan if row.get(name) is None else float(row[name]) for row in rows])
        np.testing.assert_allclose(outputs[name].numpy(), _z_scores(raw), rtol=1e-4,
                                   atol=1e-5, err_msg=name)
    missing = _not_in_the_rule(config)
    imputed = transform_rows(tmp_path, config, [dict(rows[0], **dict.fromkeys(missing))])
    for name in missing:
        assert imputed[name].numpy().tolist() == [0.0], name  # the mean, after scaling


def _not_in_the_rule(config: PipelineConfig) -> list[str]:
    rule = LabelRule.parse(config.label_rule, config.task)
    return [name for name in config.numeric_features if name not in rule.columns]


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


def test_the_merged_quantiles_equal_one_analyzer_per_feature(
        transform_output_dir: Path, default_config: PipelineConfig, tmp_path: Path) -> None:
    """All bucketized features share one quantile analyzer, missing values as NaN: their
    bucket ids equal those of one `tft.quantiles` per feature over its present values (what
    Transform ran before), on the same 300 fitted rows, some with missing coordinates."""
    count = default_config.bucket_count

    def per_feature(inputs: dict, _: dict) -> dict:
        outputs = {}
        for name in default_config.bucketized_features:
            boundaries = tft.quantiles(inputs[name].values, num_buckets=count,
                                       epsilon=0.01 / count)
            dense = tf.reshape(tf.sparse.to_dense(tf.SparseTensor(
                inputs[name].indices, inputs[name].values, [inputs[name].dense_shape[0], 1]),
                default_value=float("nan")), [-1])
            ids = tft.apply_buckets(tf.where(tf.math.is_nan(dense), 0.0, dense), boundaries)
            outputs[name] = tf.where(tf.math.is_nan(dense), tf.cast(count, tf.int64), ids)
        return outputs

    rows = sample_rows(300)
    assert any(row["dropoff_latitude"] is None for row in rows)
    fit_transform(default_config, rows, tmp_path, per_feature)
    reference = tft.TFTransformOutput(str(tmp_path))
    parsed = tf.io.parse_example(serialized_examples(default_config, sample_rows(1955)),
                                 raw_feature_spec(default_config))
    expected = reference.transform_features_layer()(dict(parsed))
    merged = transform_rows(transform_output_dir, default_config, sample_rows(1955))
    for name in default_config.bucketized_features:
        np.testing.assert_array_equal(merged[name].numpy(), expected[name].numpy(),
                                      err_msg=name)


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
