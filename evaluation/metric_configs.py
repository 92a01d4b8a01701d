"""One TFMA metric as the Evaluator's config names it: the leaf from which each task's
Evaluator metrics (tasks/<name>/graph.py) are written."""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

# The module of the metrics TFMA lacks (R², RMSE, a class-id log loss, macro averages).
OUR_METRICS = "evaluation.tfma_metrics"


def metric_config(class_name: str, name: str | None = None, module: str = "",
                  **config: object) -> tfma.MetricConfig:
    """TFMA's `class_name` (from `module`, TFMA's own when empty), named `name` (the name
    pipeline settings and the tasks' gating metrics use), with its `config`."""
    values = {**({"name": name} if name else {}), **config}
    return tfma.MetricConfig(class_name=class_name, module=module,
                             config=json.dumps(values) if values else "")


def metric_name(metric: tfma.MetricConfig) -> str:
    """The name a metric config gives its metric ("" when TFMA names it)."""
    return json.loads(metric.config or "{}").get("name", "")
