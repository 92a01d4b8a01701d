"""ModelReportGen: the per-run HTML report (evaluation/report.py) as a pipeline step.

A component rather than a script run afterwards, so the report is an artifact in ML
Metadata with its lineage (which model, which examples, which evaluation), is cached with
them, and is produced the same way on Vertex AI.
"""

# No `from __future__ import annotations`: TFX reads this module's annotations at runtime.
# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import json
import os

import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact
from tfx.types.standard_artifacts import (
    Examples,
    InfraBlessing,
    Model,
    ModelBlessing,
    ModelEvaluation,
    TunerResults,
)

from pipeline.metadata.store import describe_sandbox
from pipeline.settings import EVAL_SPLIT, ModelReportSettings, raw_feature_names

REPORT_FILE = "report.html"
TUNER_RESULTS_FILE = "tuner_results.json"  # what TFX's Tuner writes: one record per trial


class ModelReport(Artifact):
    """A self-contained HTML report on one trained model (REPORT_FILE in the artifact)."""

    TYPE_NAME = "pipeline.ModelReport"  # namespace.Title, as Vertex AI requires


@component
def ModelReportGen(  # noqa: N802
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    evaluation: InputArtifact[ModelEvaluation],
    blessing: InputArtifact[ModelBlessing],
    settings: Parameter[str],
    code: Parameter[str],
    report: OutputArtifact[ModelReport],
    tuner_results: InputArtifact[TunerResults] = None,
    sandbox: InputArtifact[InfraBlessing] = None,
) -> None:
    """Writes report.html for the candidate model: slices worst first, the task's views
    (calibration and confusion matrix; confusion between classes; predicted against
    actual), the most wrong eval examples and permutation importance, and the search
    trials when the pipeline tuned. `code` is the hash of the report's source, so that
    editing it re-runs a cached report."""
    # Imported here: the pipeline definition imports this module for the component alone,
    # and need not load the report's analyses (TFMA, the model package) to build a DAG.
    from evaluation.report import ReportOptions, build_report

    report_settings = ModelReportSettings.from_dict(json.loads(settings), "ModelReportGen")
    blessed = blessing.get_int_custom_property("blessed") == 1
    facts = {"model": model.uri, "evaluation": evaluation.uri,
             "blessed": "yes" if blessed else "no (it will not be pushed)"}
    if sandbox is not None:
        facts["serving sandbox"] = describe_sandbox(
            {key: sandbox.get_custom_property(key) for key in
             sandbox.mlmd_artifact.custom_properties})
    eval_pattern = os.path.join(artifact_utils.get_split_uri([examples], EVAL_SPLIT), "*")
    trials = None
    if tuner_results is not None:
        with tf.io.gfile.GFile(os.path.join(tuner_results.uri, TUNER_RESULTS_FILE)) as handle:
            trials = json.load(handle)
    options = ReportOptions(
        label_name=report_settings.label_name,
        feature_names=raw_feature_names(report_settings),
        decision_threshold=report_settings.decision_threshold, seed=report_settings.seed,
        task=report_settings.task)
    html_text = build_report(options, eval_pattern, model.uri, evaluation.uri,
                             facts, trials)
    with tf.io.gfile.GFile(os.path.join(report.uri, REPORT_FILE), "w") as handle:
        handle.write(html_text)
