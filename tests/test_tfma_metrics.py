"""Our TFMA metrics against numpy, through their combiners as TFMA's Beam stage runs them
(create, add, merge, extract)."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_types

from evaluation.tfma_metrics import LOG_LOSS_SKILL_NAME, _LogLossSkillCombiner


def _skill(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Feeds the examples in two halves, merged, as Beam's combining does."""
    key = metric_types.MetricKey(name=LOG_LOSS_SKILL_NAME)
    combiner = _LogLossSkillCombiner(key, None, False)
    parts = []
    for half in np.array_split(np.arange(len(labels)), 2):
        accumulator = combiner.create_accumulator()
        for index in half:
            accumulator = combiner.add_input(accumulator, metric_types.StandardMetricInputs(
                labels=np.array([labels[index]]), predictions=np.array(predictions[index]),
                example_weights=np.array([1.0])))
        parts.append(accumulator)
    return combiner.extract_output(combiner.merge_accumulators(parts))[key]


def test_binary_skill_is_one_minus_log_loss_over_the_label_rates_log_loss() -> None:
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 2, 200)
    probability = np.clip(0.3 + 0.4 * labels + generator.normal(0, 0.1, 200), 0.01, 0.99)
    log_loss = -np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability))
    rate = labels.mean()
    prior = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    assert _skill(labels, probability[:, None]) == pytest.approx(1 - log_loss / prior, rel=1e-6)
    # Answering the label's own rate is worth nothing; a perfect answer, 1.
    assert _skill(labels, np.full((200, 1), rate)) == pytest.approx(0.0, abs=1e-9)
    assert _skill(labels, labels[:, None].astype(float)) == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(_skill(np.ones(10, int), np.full((10, 1), 0.9)))  # one class: undefined


def test_multiclass_skill_reads_class_ids_and_probability_vectors() -> None:
    generator = np.random.default_rng(1)
    labels = generator.integers(0, 3, 300)
    probabilities = generator.dirichlet(np.ones(3), 300) + 2 * np.eye(3)[labels]
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    log_loss = -np.mean(np.log(probabilities[np.arange(300), labels]))
    rates = np.bincount(labels) / 300
    prior = -(rates * np.log(rates)).sum()
    assert _skill(labels, probabilities) == pytest.approx(1 - log_loss / prior, rel=1e-6)
    assert _skill(labels, np.tile(rates, (300, 1))) == pytest.approx(0.0, abs=1e-9)
