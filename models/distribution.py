"""Picks the tf.distribute strategy from the devices and cluster this process finds."""

from __future__ import annotations

import json
import os

import tensorflow as tf


def choose_strategy() -> tf.distribute.Strategy:
    """Several workers in TF_CONFIG: multi-worker; several GPUs: mirrored; else the default.

    The same training code runs unchanged on a laptop CPU, one GPU, a multi-GPU machine
    and a Vertex AI worker pool, which sets TF_CONFIG for each replica.
    """
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if sum(len(cluster.get(role, [])) for role in ("chief", "worker")) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
