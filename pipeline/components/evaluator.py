"""Evaluator: TFX's Evaluator (same inputs, outputs, EvalConfig and blessing) whose executor
computes the metrics on whole arrays (evaluation/array_evaluation.py) instead of TFMA's
per-example Beam combiners, and falls back to TFX's own executor for any EvalConfig that
path does not cover.

Why our own executor: TFMA adds each example into each metric of each slice in Python,
which held the step at about 1,000 eval rows/s on 2 cores, the slowest step of a run of
a million rows (docs/benchmarks.md). The output is TFMA's, written by TFMA's writers, and
the blessing is decided by TFMA's validator, so the Pusher, the reports, `tfma.load_*`
and ML Metadata see what TFX's Evaluator gives. `code` is the fingerprint of this step's
source, so that editing it re-runs a cached evaluation.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import os
from typing import Any

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as tfx_executor
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import io_utils, json_utils, path_utils, proto_utils

from evaluation.array_evaluation import EvaluatedModel, NotArrayEvaluable, evaluate
from pipeline.components.beam_runner import runner_of, runs_locally

CODE_KEY = "code"
# On the blessing: the evaluation it was decided on. A pipeline that resolves a blessed
# model (continuous evaluation on Vertex AI, where nothing is looked up before the run)
# finds the model's blessing-time metrics through it.
EVALUATION_URI_PROPERTY = "evaluation_uri"


class Executor(tfx_executor.Executor):
    """TFX's Evaluator executor, with the metrics computed on arrays where they can be."""

    def Do(self, input_dict: dict[str, list[types.Artifact]],  # noqa: N802 - TFX's name
           output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]
           ) -> None:
        output_uri = artifact_utils.get_single_uri(
            output_dict[standard_component_specs.EVALUATION_KEY])
        try:
            eval_config, models, files = self._array_inputs(input_dict, exec_properties)
            evaluate(eval_config, models, files, output_uri)
        except NotArrayEvaluable as reason:
            print(f"Evaluator: {reason}; evaluating with TFMA's Beam pipeline instead",
                  flush=True)
            super().Do(input_dict, output_dict, exec_properties)
        else:
            print(f"Evaluator: {len(files)} file(s) of eval examples evaluated on arrays, "
                  f"results in {output_uri}", flush=True)
            if tfma.metrics.metric_thresholds_from_metrics_specs(
                    eval_config.metrics_specs, eval_config=eval_config):
                self._bless(input_dict, output_dict, exec_properties, output_uri)
        for blessing in output_dict.get(standard_component_specs.BLESSING_KEY, []):
            blessing.set_string_custom_property(EVALUATION_URI_PROPERTY, output_uri)

    def _array_inputs(self, input_dict: dict[str, list[types.Artifact]],
                      exec_properties: dict[str, Any]
                      ) -> tuple[tfma.EvalConfig, list[EvaluatedModel], list[str]]:
        """The EvalConfig with TFMA's defaults (as TFX's executor sets them), the models
        and the eval split's files; NotArrayEvaluable when TFX's executor must run."""
        if not runs_locally(self._beam_pipeline_args):
            # The arrays live in this step's process (pipeline/components/beam_runner.py).
            raise NotArrayEvaluable(f"the Beam runner is {runner_of(self._beam_pipeline_args)}")
        if not exec_properties.get(standard_component_specs.EVAL_CONFIG_KEY):
            raise NotArrayEvaluable("no eval_config (a feature_slicing_spec)")
        if exec_properties.get(standard_component_specs.MODULE_FILE_KEY) or \
                exec_properties.get(standard_component_specs.MODULE_PATH_KEY):
            raise NotArrayEvaluable("a module of custom extractors or models")
        if standard_component_specs.MODEL_KEY not in input_dict:
            raise NotArrayEvaluable("no model: predictions come with the examples")
        examples = input_dict[standard_component_specs.EXAMPLES_KEY]
        if examples_utils.get_payload_format(examples[0]) != \
                example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE:
            raise NotArrayEvaluable("the examples are not tf.Examples")
        has_baseline = bool(input_dict.get(standard_component_specs.BASELINE_MODEL_KEY))
        eval_config = tfma.EvalConfig()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.EVAL_CONFIG_KEY],
                                  eval_config)
        eval_config = tfma.utils.update_eval_config_with_defaults(
            eval_config, has_baseline=has_baseline, rubber_stamp=True)
        tfma.utils.verify_eval_config(eval_config)
        models = []
        for spec in eval_config.model_specs:
            key = (standard_component_specs.BASELINE_MODEL_KEY if spec.is_baseline
                   else standard_component_specs.MODEL_KEY)
            artifact = artifact_utils.get_single_instance(input_dict[key])
            if tfma.utils.get_model_type(spec) == tfma.TFMA_EVAL:
                raise NotArrayEvaluable(f"model {spec.name!r} is an EvalSavedModel")
            models.append(EvaluatedModel(spec, path_utils.serving_model_path(
                artifact.uri, path_utils.is_old_model_artifact(artifact))))
        splits = json_utils.loads(exec_properties.get(
            standard_component_specs.EXAMPLE_SPLITS_KEY, "null")) or ["eval"]
        files = []
        for split in splits:
            for uri in artifact_utils.get_split_uris(examples, split):
                files.extend(sorted(tf.io.gfile.glob(io_utils.all_files_pattern(uri))))
        if not files:
            raise ValueError(f"no eval examples in the splits {splits} of {examples[0].uri}")
        return eval_config, models, files

    def _bless(self, input_dict: dict[str, list[types.Artifact]],
               output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any],
               output_uri: str) -> None:
        """The ModelBlessing as TFX's executor writes it, from TFMA's validation result."""
        blessing = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY])
        model = input_dict[standard_component_specs.MODEL_KEY][0]
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY,
                                            model.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY,
                                         model.id)
        if input_dict.get(standard_component_specs.BASELINE_MODEL_KEY):
            baseline = input_dict[standard_component_specs.BASELINE_MODEL_KEY][0]
            blessing.set_string_custom_property(
                constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri)
            blessing.set_int_custom_property(
                constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id)
        if "current_component_id" in exec_properties:
            blessing.set_string_custom_property("component_id",
                                                exec_properties["current_component_id"])
        blessed = tfma.load_validation_result(output_uri).validation_ok
        io_utils.write_string_file(os.path.join(
            blessing.uri, constants.BLESSED_FILE_NAME if blessed
            else constants.NOT_BLESSED_FILE_NAME), "")
        blessing.set_int_custom_property(
            constants.ARTIFACT_PROPERTY_BLESSED_KEY,
            constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE)


class EvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """TFX's EvaluatorSpec and the fingerprint of this step's code."""

    PARAMETERS = {**standard_component_specs.EvaluatorSpec.PARAMETERS,
                  CODE_KEY: ExecutionParameter(type=str)}


class Evaluator(base_beam_component.BaseBeamComponent):
    """TFX's Evaluator with the executor above (same artifacts, same EvalConfig)."""

    SPEC_CLASS = EvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 eval_config: tfma.EvalConfig, code: str,
                 baseline_model: types.BaseChannel | None = None,
                 example_splits: list[str] | None = None):
        super().__init__(spec=EvaluatorSpec(
            examples=examples, model=model, baseline_model=baseline_model,
            eval_config=eval_config, example_splits=json_utils.dumps(example_splits),
            code=code,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing)))
