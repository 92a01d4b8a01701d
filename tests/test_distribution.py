"""The strategy follows the devices and cluster found, and `run_fn` trains and exports
correctly on several devices and on several workers, all on this machine's CPU.

Each case runs in fresh processes (tests/trainer_harness.py): logical devices and a
cluster are fixed when TensorFlow starts, and a cluster is several processes, here on
127.0.0.1 joined through TF_CONFIG as on Vertex AI Training.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from models.distribution import choose_strategy, is_chief
from models.export import EXTRA_ASSETS_DIRECTORY
from pipeline.loopback import free_ports
from pipeline.processes import WarmProcess
from pipeline.settings import REPOSITORY_ROOT, TrainingSettings
from tests.configs import taxi_config
from tests.helpers import sample_rows, serialized_examples

# Importing TensorFlow and TFX takes 10-20 s per process here; training a few seconds.
REPLICA_TIMEOUT_SECONDS = 300
# Small and quick; two replicas of 50 make global batches of 100 over 400 train rows.
# Epochs sized as by default, stopping 2 epochs after the lowest validation loss and after
# at most 8 epochs of the 400 train rows: every replica must stop on the same epoch.
TRAINING_CONFIG = taxi_config(hidden_units=(8,), embedding_dim=4, batch_size=50,
                              epochs="auto", patience=2, training_example_budget=3200)


@dataclasses.dataclass
class Replica:
    """One harness process, its output files and its own temporary directory."""

    name: str
    process: WarmProcess
    stdout: Path
    stderr: Path
    temp_dir: Path


def start_replica(name: str, arguments: list[str], directory: Path,
                  tf_config: dict | None = None) -> Replica:
    """`python -m tests.trainer_harness ARGUMENTS`, output to files (a full pipe would
    stall the process, and with it every worker waiting on its collective ops)."""
    temp_dir = directory / f"{name}-tmp"
    temp_dir.mkdir(parents=True)
    environment = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    environment.update({
        "PYTHONPATH": str(REPOSITORY_ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TMPDIR": str(temp_dir),
        # The CPU paths are under test; a GPU would change the strategy chosen.
        "CUDA_VISIBLE_DEVICES": "",
    })
    if tf_config is not None:
        environment["TF_CONFIG"] = json.dumps(tf_config)
    stdout, stderr = directory / f"{name}.out", directory / f"{name}.err"
    # Forked warm (pipeline/processes.py): each replica is still a process of its own.
    process = WarmProcess("tests.trainer_harness", arguments, environment, REPOSITORY_ROOT,
                          stdout, stderr)
    return Replica(name, process, stdout, stderr, temp_dir)


def wait_for(replicas: list[Replica]) -> list[str]:
    """Each replica's stdout once all exit 0. When one fails or time runs out, kills the
    rest (a worker waiting on its peers ignores SIGTERM) and fails with every stderr."""
    deadline = time.monotonic() + REPLICA_TIMEOUT_SECONDS
    while any(replica.process.poll() is None for replica in replicas):
        failed = any(replica.process.returncode not in (None, 0) for replica in replicas)
        if failed or time.monotonic() > deadline:
            for replica in replicas:
                replica.process.kill()
                replica.process.wait()
            break
        time.sleep(0.5)
    if any(replica.process.returncode != 0 for replica in replicas):
        report = "\n".join(
            f"--- {replica.name} exited {replica.process.returncode}; stderr ends:\n"
            + replica.stderr.read_text()[-6000:] for replica in replicas)
        pytest.fail(f"a replica failed or ran past {REPLICA_TIMEOUT_SECONDS} s\n{report}")
    return [replica.stdout.read_text() for replica in replicas]


def loopback_addresses(count: int) -> list[str]:
    return [f"127.0.0.1:{port}" for port in free_ports(count)]


def cluster_configs(form: str) -> list[dict]:
    """TF_CONFIG for each of two replicas, the chief's first.

    "workers": TensorFlow's own examples, where worker 0 is the chief;
    "chief_and_worker": what Vertex AI Training sets for a chief pool plus a worker pool.
    """
    first, second = loopback_addresses(2)
    if form == "workers":
        cluster, tasks = {"worker": [first, second]}, [("worker", 0), ("worker", 1)]
    else:
        cluster, tasks = {"chief": [first], "worker": [second]}, [("chief", 0), ("worker", 0)]
    return [{"cluster": cluster, "task": {"type": task_type, "index": index}}
            for task_type, index in tasks]


def train_arguments(trainer_inputs: dict[str, str], directory: Path) -> list[str]:
    """Harness arguments to train into `directory`/model and `directory`/model_run."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = {**trainer_inputs, "model": str(directory / "model"),
            "model_run": str(directory / "model_run"),
            "training_settings": TrainingSettings.from_config(TRAINING_CONFIG).to_dict()}
    spec_path = directory / "spec.json"
    spec_path.write_text(json.dumps(spec))
    return ["train", str(spec_path)]


def serving_dir(directory: Path) -> Path:
    """Where TFX's Trainer asks `run_fn` to export (path_utils.serving_model_dir)."""
    return directory / "model" / "Format-Serving"


def training_record(directory: Path) -> dict:
    return json.loads((serving_dir(directory) / EXTRA_ASSETS_DIRECTORY /
                       "training.json").read_text())


def score(directory: Path) -> np.ndarray:
    """The exported model's probabilities for raw, unlabeled serialized examples."""
    unlabeled = []
    for record in serialized_examples(TRAINING_CONFIG, sample_rows(32)):
        example = tf.train.Example.FromString(record)
        del example.features.feature[TRAINING_CONFIG.label_name]
        unlabeled.append(example.SerializeToString())
    loaded = tf.saved_model.load(str(serving_dir(directory)))
    probabilities = loaded.signatures["serving_default"](
        examples=tf.constant(unlabeled))["probability"].numpy()
    assert probabilities.shape == (32, 1)
    assert np.all((probabilities > 0) & (probabilities < 1))
    return probabilities


@pytest.fixture(scope="module")
def two_device_run(trainer_inputs: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`run_fn` in one process whose CPU is split into two logical devices."""
    directory = tmp_path_factory.mktemp("two_devices")
    wait_for([start_replica("two_devices", [*train_arguments(trainer_inputs, directory),
                                            "--cpu-devices", "2"], directory)])
    return directory


def test_one_cpu_gets_the_default_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = choose_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert is_chief(strategy)


def test_logical_cpus_get_a_mirrored_strategy(tmp_path: Path) -> None:
    (output,) = wait_for([start_replica("split_cpu", ["strategy", "--cpu-devices", "2"],
                                        tmp_path)])
    assert json.loads(output) == {"mirrored": True, "multi_worker": False, "default": False,
                                  "replicas": 2, "chief": True}


@pytest.mark.parametrize("form", ["workers", "chief_and_worker"])
def test_workers_in_tf_config_get_a_multi_worker_strategy(form: str, tmp_path: Path) -> None:
    replicas = [start_replica(f"replica{index}", ["strategy"], tmp_path, tf_config)
                for index, tf_config in enumerate(cluster_configs(form))]
    described = [json.loads(output) for output in wait_for(replicas)]
    assert described == [
        {"mirrored": False, "multi_worker": True, "default": False, "replicas": 2,
         "chief": chief} for chief in (True, False)]


def test_embedding_gradients_are_all_reduced_dense_only_across_replicas(tmp_path: Path
                                                                       ) -> None:
    """Across replicas an embedding's sparse gradient costs several collectives (all-gathers
    of its indices and values) where the dense ones of a step share one: ReplicaAdam makes
    it dense there (models/distribution.py), and leaves one replica's sparse."""
    one, two = wait_for([start_replica(f"devices{count}", ["sparse-gradients", "--cpu-devices",
                                                           str(count)], tmp_path)
                         for count in (1, 2)])
    assert any(json.loads(one))  # the embedding's, beside the dense layer's dense ones
    assert json.loads(two) and not any(json.loads(two))


def test_run_fn_trains_on_two_logical_devices(two_device_run: Path) -> None:
    record = training_record(two_device_run)
    assert record["replicas"] == 2
    # Keras 3.6 under a strategy makes three distributed iterators an epoch (training, a
    # batch to rebuild the model before validating, validation) and rebuilds the model
    # at each validation. run_fn keeps one over the training data and one over the
    # validation data for all its epochs (endless_epochs), and builds once, before `fit`
    # (build_from_batch; built_once skips the rest): 17 iterators without the first, 10
    # builds without the last.
    assert len(record["history"]["loss"]) > 2
    assert json.loads((two_device_run / "two_devices.out").read_text()) == {
        "distributed_iterators": 2, "symbolic_builds": 1}
    assert record["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    score(two_device_run)
    assert list((two_device_run / "model_run").iterdir())  # TensorBoard logs


def test_every_worker_decides_on_the_chiefs_epoch_logs(tmp_path: Path) -> None:
    """Keras reports each worker's own shard's losses; after ChiefLogs every worker's
    callbacks (early stopping, the learning-rate control) read the chief's, so no worker
    stops while another trains on and waits for it."""
    outputs = wait_for([start_replica(name, ["chief-logs"], tmp_path, config)
                        for name, config in zip(("chief", "worker"),
                                                cluster_configs("chief_and_worker"),
                                                strict=True)])
    assert [json.loads(output.strip().splitlines()[-1]) for output in outputs] == [
        {"loss": 10.0, "val_loss": 20.0}] * 2


def test_run_fn_trains_on_a_chief_and_a_worker(trainer_inputs: dict[str, str],
                                               two_device_run: Path, tmp_path: Path) -> None:
    """Vertex AI's form of cluster, where the non-chief is worker 0; the workers-only form
    differs only in which task is chief, which the strategy test above covers. As on
    Vertex AI Training, both replicas are given the same output URIs."""
    chief_dir, other_dir = tmp_path / "chief", tmp_path / "other"
    chief_config, other_config = cluster_configs("chief_and_worker")
    arguments = train_arguments(trainer_inputs, chief_dir)
    replicas = [start_replica("chief", arguments, chief_dir, chief_config),
                start_replica("other", arguments, other_dir, other_config)]
    wait_for(replicas)

    record = training_record(chief_dir)
    assert record["replicas"] == 2
    assert len(record["devices"]) == 2
    assert list((chief_dir / "model_run").iterdir())
    # One model at the URI: the chief's. The worker trained and saved a throwaway copy,
    # kept nothing (not even temporary files), and returned only once the chief's model
    # was there, which TFX's trainer executor checks on every replica.
    assert list((chief_dir / "model").rglob("saved_model.pb")) == [
        serving_dir(chief_dir) / "saved_model.pb"]
    assert not any(replicas[1].temp_dir.iterdir())
    # Each worker sees its own shard's validation loss; early stopping and the learning
    # rate follow the chief's on every worker (ChiefLogs), or one stops while the other
    # waits on its next step's collective until the cluster times out.
    assert 1 <= record["best_epoch"] <= len(record["history"]["loss"]) <= 8
    # Each global batch split between the workers exactly as between two devices of one
    # machine: same data, same order, so the same training and the same model.
    two_device_history = training_record(two_device_run)["history"]
    assert record["history"].keys() == two_device_history.keys()
    for metric, values in record["history"].items():
        np.testing.assert_allclose(values, two_device_history[metric], rtol=1e-4,
                                   err_msg=metric)
    np.testing.assert_allclose(score(chief_dir), score(two_device_run), rtol=1e-4, atol=1e-6)


def test_an_endless_iterators_device_datasets_do_not_autotune() -> None:
    """What a distributed iterator feeds each replica from is a per-device dataset of
    TensorFlow's MultiDeviceIterator; with `endless_epochs` it runs with autotuning off
    (whose thread's sleep deleting the iterator could wait out, up to a minute), and the
    batches are still the dataset's, in order."""
    from tensorflow.python.data.ops.multi_device_iterator_ops import OwnedMultiDeviceIterator

    from models.distribution import endless_epochs

    dataset, steps = endless_epochs(tf.data.Dataset.range(10).batch(4), rows=10,
                                    global_batch_size=4)
    assert steps == 3
    iterator = OwnedMultiDeviceIterator(dataset, ["/cpu:0"])
    assert [next(iterator)[0].numpy().tolist() for _ in range(4)] == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3]]
    [device_iterator] = iterator._device_iterators
    assert device_iterator._dataset.options().autotune.enabled is False
    assert dataset.options().autotune.enabled is None  # the source keeps its own
