"""Judging a serving model on fresh labelled rows: how far its metrics fell since it was
blessed, and how an A/B challenger compares with it on the same rows.

Both read what the Evaluator wrote or computes: the metrics per slice of two TFMA
evaluations of the same model (at blessing time and on the fresh rows, the same
EvalConfig), and the labels and predictions per slice from evaluation/array_evaluation.py.
Plain numpy over those; the tasks say which metrics exist and which way is better.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tasks import task_named
from tasks.judge_parts import judge_part

OVERALL = "Overall"
EXAMPLE_COUNT = "example_count"  # TFMA's ExampleCount, which every EvalConfig of ours has


@dataclasses.dataclass(frozen=True)
class Degradation:
    """A metric on one slice that fell further than its threshold allows."""

    slice: str
    metric: str
    at_blessing: float
    fresh: float
    threshold: float
    direction: str  # "higher is better" or "lower is better"

    @property
    def change(self) -> float:
        return self.fresh - self.at_blessing

    def line(self) -> str:
        return (f"{self.metric} on {self.slice}: {self.fresh:.4f} on the fresh rows against "
                f"{self.at_blessing:.4f} at blessing ({self.change:+.4f}; {self.direction}, "
                f"at most {self.threshold:g} worse allowed)")


def metric_changes(task: str, at_blessing: Mapping[str, Mapping[str, float]],
                   fresh: Mapping[str, Mapping[str, float]], thresholds: Mapping[str, float],
                   min_slice_examples: int) -> tuple[list[dict[str, Any]], list[Degradation]]:
    """Every slice's summary and thresholded metrics at blessing and on the fresh rows
    (rows for the report), and the degradations among them: a thresholded metric worse by
    more than its threshold,
    on the whole data or on a slice that holds at least `min_slice_examples` rows both
    times (a smaller slice's metric moves that much by chance). A slice missing from
    either evaluation, or a metric undefined on one (an AUC of one class), is compared
    where it can be and reported as it is."""
    spec = task_named(task)
    rows, degradations = [], []
    for name in [OVERALL, *sorted(set(fresh) - {OVERALL})]:
        then, now = at_blessing.get(name, {}), fresh.get(name, {})
        counts = (then.get(EXAMPLE_COUNT, 0.0), now.get(EXAMPLE_COUNT, 0.0))
        judged = name == OVERALL or min(counts) >= min_slice_examples
        shown = [name for name in spec.summary_metrics if name != EXAMPLE_COUNT]
        for metric in [*thresholds, *(name for name in shown if name not in thresholds)]:
            threshold = thresholds.get(metric)
            before, after = then.get(metric), now.get(metric)
            row = {"slice": name, "metric": metric, "at_blessing": before, "fresh": after,
                   "examples_at_blessing": counts[0], "examples_fresh": counts[1],
                   "threshold": threshold, "judged": judged, "degraded": False}
            if before is not None and after is not None and judged and threshold is not None:
                worse = (before - after) if spec.higher_is_better(metric) else (after - before)
                if worse > threshold:
                    row["degraded"] = True
                    degradations.append(Degradation(name, metric, before, after, threshold,
                                                    spec.direction(metric)))
            rows.append(row)
    return rows, degradations


def bootstrap_comparison(task: str, champion: Any, challenger: Any,
                         slices: Sequence[tuple[Any, np.ndarray]], samples: int,
                         seed: int) -> list[dict[str, Any]]:
    """The champion (A) and the challenger (B) on the same rows, per slice, by the task's
    ranking metric: each one's value, B - A, and a 95% interval of B - A from `samples`
    bootstrap resamples of the slice's rows (the same resample for both models, so the
    interval is of the paired difference). `champion`/`challenger`: ModelArrays over every
    row; `slices`: (slice key, rows). Which is better: the one the whole interval favours,
    else neither."""
    from tensorflow_model_analysis import slicer

    spec, judge = task_named(task), judge_part(task)
    metric = spec.ranking_metric
    sign = 1.0 if spec.higher_is_better(metric) else -1.0
    random = np.random.default_rng(seed)
    rows = []
    for key, indices in slices:
        labels = champion.labels[indices]
        a = judge.answers(champion.predictions[indices])
        b = judge.answers(challenger.predictions[indices])
        count = len(indices)
        whole = np.ones((1, count))
        value_a = float(judge.ranking_scores(labels, a, whole)[0])
        value_b = float(judge.ranking_scores(labels, b, whole)[0])
        differences = []
        # Resamples in chunks of a few million weights, so memory stays flat on large slices.
        chunk = max(1, min(samples, 4_000_000 // max(count, 1)))
        for start in range(0, samples, chunk):
            size = min(chunk, samples - start)
            weights = np.stack([np.bincount(random.integers(0, count, count), minlength=count)
                                for _ in range(size)]).astype(np.float64)
            differences.append(judge.ranking_scores(labels, b, weights)
                               - judge.ranking_scores(labels, a, weights))
        difference = np.concatenate(differences)
        difference = difference[np.isfinite(difference)]
        low, high = ((float(np.percentile(difference, 2.5)),
                      float(np.percentile(difference, 97.5))) if len(difference) else
                     (math.nan, math.nan))
        # In the metric's better direction, the interval's two ends.
        worst, best = sorted((sign * low, sign * high))
        better = "B" if worst > 0 else "A" if best < 0 else "neither"
        rows.append({"slice": slicer.stringify_slice_key(key) or OVERALL, "metric": metric,
                     "examples": count, "A": value_a, "B": value_b,
                     "difference": value_b - value_a, "interval": [low, high],
                     "resamples": int(len(difference)), "better": better})
    return rows
