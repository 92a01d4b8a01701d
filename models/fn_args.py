"""`FnArgs` as TFX's Trainer executor builds them, for running `run_fn` (or measuring its
input) outside a pipeline: the GPU check, the growth benchmark's input-bound ratio and the
tests' trainer harness."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pipeline.settings import EVAL_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT

if TYPE_CHECKING:
    from tfx.components.trainer.fn_args_utils import FnArgs


def trainer_fn_args(spec: dict[str, Any]) -> FnArgs:
    """FnArgs as TFX's Trainer executor builds them (GenericExecutor._GetFnArgs).

    spec: "transform_graph" (Transform's output directory), "examples" (a directory with
    Split-train/ and Split-eval/ holding gzipped TFRecords of transformed examples),
    "model" and "model_run" (the output artifacts' directories), "training_settings".
    """
    # TFX takes ~10 s to import; only training needs it.
    import tensorflow as tf
    from tfx.components.trainer.fn_args_utils import get_common_fn_args
    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2, trainer_pb2
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.types import standard_component_specs as keys
    from tfx.utils import json_utils, path_utils, proto_utils

    transform_graph = standard_artifacts.TransformGraph()
    transform_graph.uri = spec["transform_graph"]
    examples = standard_artifacts.Examples()
    examples.uri = spec["examples"]
    # The Trainer stops on validation where Transform's output has it (older outputs: eval).
    stop_split = (VALIDATION_SPLIT if tf.io.gfile.isdir(
        os.path.join(spec["examples"], f"Split-{VALIDATION_SPLIT}")) else EVAL_SPLIT)
    examples.split_names = artifact_utils.encode_split_names([TRAIN_SPLIT, stop_split])
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    exec_properties = {
        keys.TRAIN_ARGS_KEY: proto_utils.proto_to_json(
            trainer_pb2.TrainArgs(splits=[TRAIN_SPLIT])),
        keys.EVAL_ARGS_KEY: proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=[stop_split])),
        keys.CUSTOM_CONFIG_KEY: json_utils.dumps(
            {"training_settings": spec["training_settings"]}),
    }
    fn_args = get_common_fn_args(
        {keys.EXAMPLES_KEY: [examples], keys.TRANSFORM_GRAPH_KEY: [transform_graph]},
        exec_properties)
    fn_args.transform_output = fn_args.transform_graph_path
    fn_args.serving_model_dir = path_utils.serving_model_dir(spec["model"])
    fn_args.model_run_dir = spec["model_run"]
    return fn_args
