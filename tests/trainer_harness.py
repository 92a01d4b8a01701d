"""One Trainer replica in a process of its own, for tests/test_distribution.py.

Those tests need fresh processes: TensorFlow fixes its devices and collective ops when it
first initializes, and a multi-worker cluster is several processes.

    python -m tests.trainer_harness strategy [--cpu-devices N]
        prints, as JSON, the strategy `choose_strategy` picks here;
    python -m tests.trainer_harness train SPEC.json [--cpu-devices N]
        calls `run_fn` with TFX's FnArgs over the artifacts SPEC.json names
        (see `trainer_fn_args`).
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import tensorflow as tf

from models.distribution import choose_strategy, is_chief

if TYPE_CHECKING:
    from tfx.components.trainer.fn_args_utils import FnArgs


def split_cpu(device_count: int) -> None:
    """Shows the CPU as `device_count` logical devices (only before TensorFlow starts)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * device_count)


def describe_strategy() -> dict:
    """What `choose_strategy` picked here, in terms a test can compare."""
    strategy = choose_strategy()
    return {
        "mirrored": isinstance(strategy, tf.distribute.MirroredStrategy),
        "multi_worker": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
        "default": strategy is tf.distribute.get_strategy(),
        "replicas": strategy.num_replicas_in_sync,
        "chief": is_chief(strategy),
    }


def trainer_fn_args(spec: dict) -> FnArgs:
    """FnArgs as TFX's Trainer executor builds them (GenericExecutor._GetFnArgs).

    spec: "transform_graph" (Transform's output directory), "examples" (a directory with
    Split-train/ and Split-eval/ holding gzipped TFRecords of transformed examples),
    "model" and "model_run" (the output artifacts' directories), "training_settings".
    """
    # TFX takes ~10 s to import; only training needs it.
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
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    exec_properties = {
        keys.TRAIN_ARGS_KEY: proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=["train"])),
        keys.EVAL_ARGS_KEY: proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=["eval"])),
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


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["strategy", "train"])
    parser.add_argument("spec", nargs="?", help="train: the JSON file naming the artifacts")
    parser.add_argument("--cpu-devices", type=int, default=1)
    args = parser.parse_args(argv)
    if args.cpu_devices > 1:
        split_cpu(args.cpu_devices)
    if args.command == "strategy":
        print(json.dumps(describe_strategy()))
        return
    from models.trainer import run_fn  # imports TFX too, see trainer_fn_args

    with open(args.spec) as handle:
        run_fn(trainer_fn_args(json.load(handle)))


if __name__ == "__main__":
    main(sys.argv[1:])
