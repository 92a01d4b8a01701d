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
    python -m tests.trainer_harness validation-passes [--cpu-devices N]
        prints, as JSON, how many epochs a small model compiled as the Trainer compiles
        every architecture (and `built_once`, as `run_fn` builds it) trained for, and how
        many times `fit` started reading its validation data;
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
from collections.abc import Iterator, Sequence

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


def validation_passes(epochs: int = 3) -> dict:
    """See the module's docstring: `fit` for `epochs` epochs in the strategy
    `choose_strategy` picks here, validation data from a generator that counts its
    starts (each distributed iterator over it starts it once)."""
    import keras
    import numpy as np

    from models.distribution import built_once
    from models.layers import compiled_for_task
    from models.shapes import FeatureShapes
    from pipeline.settings import TrainingSettings
    from tests.configs import taxi_config

    starts = []

    def validation_rows() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        starts.append(1)
        for row in range(8):
            yield np.full((1,), row, "float32"), np.zeros((1,), "float32")

    signature = (tf.TensorSpec((1,), tf.float32), tf.TensorSpec((1,), tf.float32))
    validation = tf.data.Dataset.from_generator(validation_rows,
                                                output_signature=signature).batch(4)
    shapes = FeatureShapes(numeric=("x",), categorical_cardinalities={}, numeric_width=1,
                           task="binary")
    with choose_strategy().scope():
        inputs = keras.Input((1,))
        model = built_once(compiled_for_task(
            keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs)),
            shapes, TrainingSettings.from_config(taxi_config())))
    history = model.fit(np.arange(8, dtype="float32")[:, None], np.zeros((8, 1), "float32"),
                        batch_size=4, epochs=epochs, validation_data=validation, verbose=0)
    return {"epochs": len(history.epoch), "validation_passes": len(starts)}


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["strategy", "chief-logs", "sparse-gradients",
                                            "validation-passes", "train"])
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
    if args.command == "validation-passes":
        print(json.dumps(validation_passes()))
        return
    from models.trainer import run_fn  # imports TFX too, see trainer_fn_args

    with open(args.spec) as handle:
        run_fn(trainer_fn_args(json.load(handle)))


if __name__ == "__main__":
    main(sys.argv[1:])
