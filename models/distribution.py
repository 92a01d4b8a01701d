"""Distributed training: the strategy, which replica keeps the outputs, how data is split.

The same training code runs unchanged on a laptop CPU, one GPU, a multi-GPU machine and
a Vertex AI worker pool; each replica of a pool runs all of `run_fn`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator

import keras
import tensorflow as tf


def use_mixed_precision(setting: str) -> bool:
    """Sets Keras's float16 compute policy when `setting` is auto and every visible GPU
    computes float16 fast (compute capability 7.0+: tensor cores); returns whether it did.
    On a CPU float16 is slower, so it stays float32."""
    gpus = tf.config.list_physical_devices("GPU")
    fast = bool(gpus) and all(
        tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        >= (7, 0) for gpu in gpus)
    if setting == "auto" and fast:
        keras.mixed_precision.set_global_policy("mixed_float16")
        return True
    keras.mixed_precision.set_global_policy("float32")
    return False


def choose_strategy() -> tf.distribute.Strategy:
    """Several workers in TF_CONFIG: multi-worker; several GPUs, or with no GPU several
    logical CPUs: mirrored over them; otherwise the default strategy.

    Vertex AI Training sets TF_CONFIG for each replica of a pool. A CPU only shows several
    logical devices when someone split it on purpose, as the tests do to run the
    multi-device path without a GPU.
    """
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if sum(len(cluster.get(role, [])) for role in ("chief", "worker")) > 1:
        return _MultiWorkerStrategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this replica keeps the training outputs: outside a cluster, always; in one,
    the "chief" task, or worker 0 when the cluster names no chief (TensorFlow's rule)."""
    resolver = strategy.cluster_resolver
    cluster = resolver.cluster_spec().as_dict() if resolver else {}
    if not cluster:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster)


@contextlib.contextmanager
def chief_only_directories(strategy: tf.distribute.Strategy, *directories: str
                           ) -> Iterator[list[str]]:
    """`directories` on the chief; elsewhere as many throwaway ones, deleted on exit.

    Every worker must run the same training and saving, whose collective ops wait for all
    workers, but only the chief's copy may land where TFX and TensorBoard look.
    """
    if is_chief(strategy):
        yield list(directories)
        return
    with tempfile.TemporaryDirectory(prefix="non_chief_outputs_") as scratch:
        yield [os.path.join(scratch, str(index)) for index in range(len(directories))]


CHIEF_MODEL_TIMEOUT_S = 1800


def wait_for_chief_model(serving_model_dir: str, timeout: float = CHIEF_MODEL_TIMEOUT_S,
                         poll: float = 1.0) -> float:
    """On a non-chief replica, after training: waits until the chief's model is at
    `serving_model_dir` (its saved_model.pb); the seconds waited.

    TFX's trainer executor, which runs run_fn on every replica of a Vertex AI Training
    job, fails a replica whose `serving_model_dir` does not exist when run_fn returns. A
    worker finishes training with the chief but saves only a throwaway copy, so without
    this it would fail whenever it returns before the chief's export has landed (the
    two-replica dry run on object storage shows the race)."""
    marker = os.path.join(serving_model_dir, "saved_model.pb")
    started = time.monotonic()
    while not tf.io.gfile.exists(marker):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the chief's model did not appear at {serving_model_dir} "
                               f"within {timeout:.0f} s of this worker finishing")
        time.sleep(poll)
    return time.monotonic() - started


class ChiefLogs(keras.callbacks.Callback):
    """Gives every worker the chief's epoch logs, so that every callback decides alike.

    Under MultiWorkerMirroredStrategy, Keras 3 reports each worker's own metrics at the
    end of an epoch (its shard's loss and validation loss), not the cluster's. Early
    stopping and the learning-rate control read the validation loss, so a worker could
    stop training while the chief goes on, which then waits for it on the next step's
    collective until the cluster's heartbeat times out (the two-replica dry run on object
    storage showed this: the worker stopped after epoch 23, the chief did not). First in
    the callback list, this replaces each worker's logs with the chief's, taken by one
    all-reduce in which only the chief contributes; the chief's own logs are unchanged,
    so a cluster trains as the chief alone would report it."""

    def __init__(self, strategy: tf.distribute.Strategy) -> None:
        super().__init__()
        self.strategy = strategy

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not logs or not isinstance(self.strategy,
                                      tf.distribute.MultiWorkerMirroredStrategy):
            return
        names = sorted(name for name, value in logs.items()
                       if isinstance(value, (int, float)) or getattr(value, "shape", None) == ())
        local = tf.constant([float(logs[name]) if is_chief(self.strategy) else 0.0
                             for name in names], tf.float64)
        devices = len(self.strategy.extended.worker_devices)  # the chief's replicas add up

        def broadcast(value: tf.Tensor) -> tf.Tensor:
            return tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, value)

        summed = self.strategy.experimental_local_results(
            self.strategy.run(broadcast, args=(local,)))[0].numpy()
        logs.update({name: float(value) / devices for name, value in zip(names, summed,
                                                                        strict=True)})


def built_once(model: keras.Model) -> keras.Model:
    """`model`, whose `evaluate` no longer rebuilds it once it is built.

    Under a distribution strategy Keras 3 (3.6) begins every `evaluate`, and so each
    epoch's validation inside `fit`, with `_maybe_symbolic_build`: a new distributed
    iterator over the validation data, one batch taken from it and reduced across the
    replicas (eager collectives, one per feature), and then a build that does nothing once
    the layers, the compiled loss and metrics and the optimizer are built. On a chief and a
    worker on loopback that was 0.3 s of each 1.6 s epoch (py-spy, wall time, of
    tests/test_distribution.py's chief). This skips the call exactly when Keras's own
    build would do nothing; until then, and should Keras rename what it checks, Keras
    builds as before."""
    keras_build = model._maybe_symbolic_build

    def built() -> bool:
        try:
            parts = [model._compile_metrics, model._compile_loss, model.optimizer]
            return (all(layer.built for layer in model._flatten_layers())
                    and all(part is None or part.built for part in parts))
        except AttributeError:
            return False

    def maybe_symbolic_build(iterator: object = None, data_batch: object = None) -> None:
        if not built():
            keras_build(iterator=iterator, data_batch=data_batch)

    model._maybe_symbolic_build = maybe_symbolic_build
    return model


def endless_epochs(dataset: tf.data.Dataset, rows: int, global_batch_size: int
                   ) -> tuple[tf.data.Dataset, int]:
    """`dataset` (one pass over `rows` examples, batched) repeated, and the steps of one
    pass, the last batch partial: what `fit` needs (`steps_per_epoch`, `validation_steps`)
    to keep one distributed iterator over it for every epoch. Without steps Keras 3.6
    makes a new one for each epoch's training and each epoch's validation: after
    `built_once`, 0.38 s of each 0.6-1.6 s epoch of a chief and a worker on loopback
    (py-spy, wall time; 4 steps an epoch). Build the model first (`build_from_batch`).
    Such a long-lived iterator is deleted at once at fit's end (see
    `per_device_datasets_without_autotune`)."""
    per_device_datasets_without_autotune()
    return dataset.repeat(), max(1, -(-rows // global_batch_size))


def per_device_datasets_without_autotune() -> None:
    """Turns tf.data's autotuning off in the per-device datasets that a distributed
    iterator feeds each replica from (TensorFlow's MultiDeviceIterator makes them: a
    generator and a prefetch of one batch, nothing to tune). The dataset they read from
    keeps its own options.

    Why: each per-device iterator otherwise runs an autotune thread that sleeps for a
    period doubling up to 60 s, and deleting the iterator could wait that sleep out. An
    iterator of `endless_epochs` lives through the whole training, so the two-replica
    Trainer of a Vertex dry run idled 8-29 s after its last epoch (gdb: the main thread in
    `~MultiDeviceIterator`, the autotune loop asleep). Deleting an iterator like the
    feeder's through MirroredStrategy after 12 s of iteration took 8.6-8.7 s in 2 of 6
    runs before, 0.14-0.21 s in 10 of 10 with this (docs/benchmarks.md). TensorFlow makes
    these datasets in a private function, wrapped here once; a TensorFlow without it is
    left as it is."""
    from tensorflow.python.data.ops import multi_device_iterator_ops

    create = getattr(multi_device_iterator_ops, "_create_device_dataset", None)
    if create is None or getattr(create, "without_autotune", False):
        return

    def create_without_autotune(*arguments: object, **keywords: object) -> tf.data.Dataset:
        options = tf.data.Options()
        options.autotune.enabled = False
        return create(*arguments, **keywords).with_options(options)

    create_without_autotune.without_autotune = True
    multi_device_iterator_ops._create_device_dataset = create_without_autotune


def build_from_batch(model: keras.Model, dataset: tf.data.Dataset) -> None:
    """Builds what Keras builds from the first batch `fit` reads (the compiled loss and
    metrics), from a batch of `dataset` read apart. With `endless_epochs` that first read
    would come from the iterator the epochs then read, and shift every epoch by one
    batch; once built, `built_once` skips it."""
    model._maybe_symbolic_build(data_batch=next(iter(dataset)))


# Embedding gradients up to this many values (4 MiB of float32) are all-reduced dense.
DENSE_ALL_REDUCE_MAX_VALUES = 1 << 20


class ReplicaAdam(keras.optimizers.Adam):
    """Adam whose embedding gradients are made dense before replicas all-reduce them,
    when the embedding is small enough (DENSE_ALL_REDUCE_MAX_VALUES).

    An embedding's gradient is sparse (tf.IndexedSlices: the rows a batch touched), and
    TensorFlow all-reduces one with all-gathers of its indices and values, several
    collectives for each embedding variable, where the dense gradients of a step travel
    together in one. Across two workers on loopback that made a step 10 times as long as
    one replica's (about 0.15 s against 0.015 s, a wide-and-deep model's 24 embeddings,
    profiled): six epochs on testdata/ took 25.3-34.6 s sparse and 14.5-16.3 s dense
    (the median epoch 2.5-4.9 s against 1.2-1.7 s), two runs each.
    Dense gradients are plain Adam's update for every row (a sparse one leaves the moments
    of untouched rows as they were), on every replica alike; one replica is untouched."""

    def apply_gradients(self, grads_and_vars):  # noqa: ANN001, ANN201 - Keras's signature
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return super().apply_gradients(grads_and_vars)
        return super().apply_gradients([
            (tf.convert_to_tensor(gradient)
             if isinstance(gradient, tf.IndexedSlices)
             and variable.shape.num_elements() <= DENSE_ALL_REDUCE_MAX_VALUES else gradient,
             variable) for gradient, variable in grads_and_vars])


def shard_by_example(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset`, split across workers batch by batch instead of file by file.

    TensorFlow's default splits by file, and fails outright ("Could not apply FILE based
    sharding") when there are fewer files than workers, as when Transform writes a single
    file. Every worker then reads all files and keeps its share of each global batch,
    in the same seeded order. No effect outside a multi-worker cluster.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options)


class _MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy with a `reduce` that Keras 3's `fit` can call.

    Across workers, Keras 3 (3.6 here, and later releases too) reduces a whole input batch,
    our dict of features (keras-team/keras#20329), and each scalar metric along axis 0
    (tensorflow/tensorflow#72388); the stock class refuses both. This one reduces each
    nested value on its own, and a scalar over the replicas alone.
    """

    def reduce(self, reduce_op: tf.distribute.ReduceOp | str, value: object,
               axis: int | None) -> object:
        reduce_stock = super().reduce

        def reduce_one(item: object) -> tf.Tensor:
            scalar = self.experimental_local_results(item)[0].shape.rank == 0
            return reduce_stock(reduce_op, item, None if scalar else axis)

        return tf.nest.map_structure(reduce_one, value)
