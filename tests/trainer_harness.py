"""One Trainer replica in a process of its own, for tests/test_distribution.py.

Those tests need fresh processes: TensorFlow fixes its devices and collective ops when it
first initializes, and a multi-worker cluster is several processes.

    python -m tests.trainer_harness strategy [--cpu-devices N]
        prints, as JSON, the strategy `choose_strategy` picks here;
    python -m tests.trainer_harness chief-logs
        prints, as JSON, the epoch logs every callback sees after ChiefLogs, when this
        replica's own logs are {"loss": 10 + i, "val_loss": 20 + i} (i: 0 on the chief,
        1 elsewhere);
    python -m tests.trainer_harness sparse-gradients [--cpu-devices N]
        prints, as JSON, whether each gradient of a one-embedding model's train step
        reaches Keras's Adam still sparse (tf.IndexedSlices), the model compiled as the
        Trainer compiles every architecture;
    python -m tests.trainer_harness train SPEC.json [--cpu-devices N]
        calls `run_fn` with TFX's FnArgs over the artifacts SPEC.json names
        (see `trainer_fn_args`), then prints, as JSON, how many distributed iterators
        it made and how many times Keras built the model symbolically.
"""

from __future__ import annotations

# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import argparse
import json
import sys
from collections.abc import Sequence

import tensorflow as tf

from models.distribution import choose_strategy, is_chief
from models.fn_args import trainer_fn_args


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


def sparse_gradients() -> list[bool]:
    """Per gradient of one train step of a one-embedding model compiled as every
    architecture is (models/layers.py `compiled_for_task`), in the strategy
    `choose_strategy` picks here: whether it is still a tf.IndexedSlices when it reaches
    Keras's Adam."""
    import keras
    import numpy as np

    from models.layers import compiled_for_task
    from models.shapes import FeatureShapes
    from pipeline.settings import TrainingSettings
    from tests.configs import taxi_config

    sparse: list[bool] = []
    adam_apply = keras.optimizers.Adam.apply_gradients

    def record(self: keras.optimizers.Adam, grads_and_vars: list) -> object:
        grads_and_vars = list(grads_and_vars)
        sparse.extend(isinstance(gradient, tf.IndexedSlices) for gradient, _ in grads_and_vars)
        return adam_apply(self, grads_and_vars)

    keras.optimizers.Adam.apply_gradients = record
    shapes = FeatureShapes(numeric=(), categorical_cardinalities={"c": 10}, numeric_width=1,
                           task="binary")
    with choose_strategy().scope():
        ids = keras.Input((), dtype="int32")
        embedded = keras.layers.Flatten()(keras.layers.Embedding(10, 4)(ids[:, None]))
        model = compiled_for_task(
            keras.Model(ids, keras.layers.Dense(1, activation="sigmoid")(embedded)), shapes,
            TrainingSettings.from_config(taxi_config()))
    model.fit(np.arange(8) % 10, np.zeros((8, 1), "float32"), batch_size=4, epochs=1,
              verbose=0)
    return sparse


def counted(owner: type, method: str) -> list[int]:
    """A list that grows by one at each call of `owner.method`, from now on in this
    process (the method itself still runs)."""
    calls: list[int] = []
    original = getattr(owner, method)

    def counting(self: object, *args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(self, *args, **kwargs)

    setattr(owner, method, counting)
    return calls


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["strategy", "chief-logs", "sparse-gradients",
                                            "train"])
    parser.add_argument("spec", nargs="?", help="train: the JSON file naming the artifacts")
    parser.add_argument("--cpu-devices", type=int, default=1)
    args = parser.parse_args(argv)
    if args.cpu_devices > 1:
        split_cpu(args.cpu_devices)
    if args.command == "strategy":
        print(json.dumps(describe_strategy()))
        return
    if args.command == "chief-logs":
        from models.distribution import ChiefLogs

        strategy = choose_strategy()
        own = 0 if is_chief(strategy) else 1
        logs = {"loss": 10.0 + own, "val_loss": 20.0 + own}
        ChiefLogs(strategy).on_epoch_end(0, logs)
        print(json.dumps(logs))
        return
    if args.command == "sparse-gradients":
        print(json.dumps(sparse_gradients()))
        return
    import keras
    from tensorflow.python.distribute import input_lib

    from models.trainer import run_fn  # imports TFX too, see trainer_fn_args

    iterators = counted(input_lib.DistributedDataset, "__iter__")
    builds = counted(keras.Model, "_symbolic_build")
    with open(args.spec) as handle:
        run_fn(trainer_fn_args(json.load(handle)))
    print(json.dumps({"distributed_iterators": len(iterators), "symbolic_builds": len(builds)}))


if __name__ == "__main__":
    main(sys.argv[1:])
