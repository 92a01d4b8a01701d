"""What a task is: the base every task's `spec.py` instantiates, and the two parts each task
keeps beside it, found by name.

A task (binary, multiclass, regression, ...) is one folder, `tasks/<name>/`, of four
modules:
- `spec.py`: `TASK`, an instance of `Task` below. Plain Python, no TensorFlow: the label's
  typing, parsing and SQL, what the rule grammar allows, the metrics that gate blessing
  and their defaults, the Tuner's objective, the serving outputs' names, the fields and
  BigQuery columns of a prediction. The configuration checks, ExampleGen, the BigQuery
  query and the prediction writer read it.
- `model.py`: the Keras 3 part (any backend), read by the networks in models/:
  `output_layer(logits, shapes)`, `loss()` and `metrics()` (named as the Tuner's objective).
- `graph.py`: the TensorFlow part, read by Transform and the export: `label_op(value,
  dense)` (Transform's label), `class_names(transform_output)` and `serving_outputs(output,
  class_names)` (the signature's outputs).
- `judge.py`: how the task is judged (TFMA, numpy, the report's pictures), read by the
  Evaluator's config and the report: `evaluator_metrics(settings)`, and `report_labels`,
  `answers`, `ranking_score` (and `ranking_scores`, weighted, for a bootstrap),
  `example_losses`, `answer_fields`, `worst_slices_first`,
  `SLICE_ORDER_NOTE`, `report_views` and `report_sections`.

`tasks/__init__.py` finds the tasks by their folders; `tasks/model_parts.py`,
`tasks/graph_parts.py` and `tasks/judge_parts.py` load the other parts by the task's
name, so importing the configuration never loads Keras or TensorFlow, and each step's
code fingerprint holds only the parts it runs. No code outside these folders branches on
a task's name.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# The margin by which, by default, a model must beat the trivial predictor (the label's
# own rates or mean on eval) in its task's skill score to be blessed: a model no better
# than that predictor is never pushed, whatever the table. Chosen so that a prior-level
# model on the suite's smallest eval split (~36 rows) does not pass by noise alone.
SKILL_MARGIN = 0.02


@dataclasses.dataclass(frozen=True)
class Task:
    """What one kind of label asks of the pipeline; each task's `spec.py` subclasses it."""

    name: str
    description: str
    # The serving signature's main output: what TFMA scores, the Keras output layer's name
    # and the prediction field a person reads. Every output keeps this one spelling.
    prediction_key: str
    # Metrics the Evaluator computes on every slice -> True when higher is better. Only
    # these may gate blessing (`blessing_thresholds`, `change_thresholds`).
    gating_metrics: Mapping[str, bool]
    # The task's skill score: 0 for the trivial predictor, 1 for a perfect model (R², or
    # 1 - log loss / log loss of the label's rates). One of `gating_metrics`.
    skill_metric: str
    # The default gate, which every run has: the skill score of at least SKILL_MARGIN.
    # A dataset's own `blessing_thresholds` are added to it (naming the skill metric
    # changes its margin).
    blessing_thresholds: Mapping[str, float]
    change_thresholds: Mapping[str, float]  # the defaults: metric -> worst change allowed
    # The metrics printed per slice in the run summary and `lineage.py show`, in order.
    summary_metrics: tuple[str, ...]
    # The metric train-all ranks variants by, and the report orders slices by.
    ranking_metric: str
    # The Keras metric the Tuner optimizes on the eval split, and whether lower is better.
    tuner_objective: str
    tuner_objective_lower_is_better: bool
    # The BigQuery type the label column is cast to.
    label_sql_type: str
    # What a label rule may be: "comparison" (one comparison, 1 or 0), "arithmetic" (a
    # number), or "" (the label must be a column).
    label_rule_kind: str
    # A prediction line's fields after `source` and the pass-through columns, with their
    # BigQuery types (a JSON column is written as JSON text).
    prediction_columns: tuple[tuple[str, str], ...]
    # The report's per-slice table (the first is the example count).
    slice_columns: tuple[str, ...]
    # The report's columns for the examples the model gets most wrong.
    answer_columns: tuple[str, ...]
    # Whether the label names classes that must each occur in train (the data checks).
    has_classes: bool = False
    # Whether a label column written as strings may name its `positive_class` (the value
    # that means 1).
    has_positive_class: bool = False
    # Whether TFMA must read the label through the model's `label_id` signature (class ids
    # from Transform's label vocabulary) instead of the raw column.
    label_through_transform: bool = False
    # Whether the network learns a standardized label that its output layer scales back to
    # the label's units (the Trainer then measures the train split's label mean and spread).
    scales_label: bool = False

    def higher_is_better(self, metric: str) -> bool:
        return self.gating_metrics[metric]

    def direction(self, metric: str) -> str:
        return "higher is better" if self.gating_metrics[metric] else "lower is better"

    def slices_by_ranking_metric(self, metrics: Mapping[str, Mapping[str, float]]
                                 ) -> list[tuple[str, Mapping[str, float]]]:
        """Slices (name -> metrics) worst first by the ranking metric, in its direction;
        slices without it last; the overall slice left out."""
        sign = 1 if self.higher_is_better(self.ranking_metric) else -1
        rows = [(name, values) for name, values in metrics.items() if name != "Overall"]
        return sorted(rows, key=lambda item: (self.ranking_metric not in item[1],
                                              sign * item[1].get(self.ranking_metric, 0.0)))

    def output_units(self, class_names: Sequence[str]) -> int:
        """Units of the model's last layer (one unless the task has a unit per class)."""
        return 1

    def parse_label(self, value: Any, column: str, where: str) -> int | float | str:
        """One raw label value, typed for the task; InputDataError naming `where` and the
        column for a value of the wrong kind. Subclasses define it."""
        raise NotImplementedError

    def prediction_batch(self, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        """The serving signature's outputs for a batch (arrays, the batch first) as one
        prediction line's fields per example, named as `prediction_columns` names them."""
        values = outputs[self.prediction_key]
        return [{self.prediction_key: value}
                for value in values.reshape(len(values), -1)[:, 0].tolist()]

    def bigquery_row(self, line: Mapping[str, Any]) -> dict[str, Any]:
        """A prediction line as a BigQuery row: JSON columns as JSON text."""
        json_columns = {name for name, kind in self.prediction_columns if kind == "JSON"}
        return {key: json.dumps(value) if key in json_columns else value
                for key, value in line.items()}
