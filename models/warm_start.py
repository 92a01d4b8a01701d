"""Warm start: a new network initialised from the weights of the latest blessed model.

With `warm_start: true` the Trainer reads the blessed model (TFX's `base_model` input, so
ML Metadata records which model a run started from) and copies its weights into the
freshly built network, when the two are the same network: the same architecture, task
and layers, each weight of the same shape. Transform's vocabularies may change between
runs (new values appear, frequencies reorder them), so an embedding table of a
categorical or text feature is copied by token: a token the old model knew keeps its
row, a new token keeps its fresh initialisation, and the hashed out-of-vocabulary rows
(the same hash buckets in both) are copied across. Anything else that differs leaves the
network as built, and `WarmStart.reason` says why, for the run summary.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from models.package import EXTRA_ASSETS_DIRECTORY
from models.shapes import FeatureShapes
from pipeline.analyzers import vocabulary_filename

# The vocabularies Transform wrote travel in the SavedModel's assets, one file per
# feature (preprocessing.py names each after its feature).
ASSETS_DIRECTORY = "assets"
OFF = "warm_start is off"


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """What the Trainer started from: `base_model` (None: from scratch, `reason` says why),
    the weights copied, and the features whose embedding rows were matched by token."""

    base_model: str | None
    reason: str = ""
    weights: int = 0
    matched_by_token: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The model's training facts (training.json); `summary` is the run summary's
        sentence, empty when warm_start is off."""
        return {**dataclasses.asdict(self),
                "summary": self.describe() if self.reason != OFF else ""}

    def describe(self) -> str:
        if self.base_model is None:
            return f"trained from scratch: {self.reason}"
        grown = (f"; embedding rows matched by token for {', '.join(self.matched_by_token)}"
                 if self.matched_by_token else "")
        return f"warm-started from {self.base_model} ({self.weights} weights{grown})"


def _read_json(model_dir: str, name: str) -> dict[str, Any]:
    path = os.path.join(model_dir, EXTRA_ASSETS_DIRECTORY, f"{name}.json")
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as handle:
        return json.load(handle)


def _old_vocabulary(model_dir: str, feature: str) -> list[bytes] | None:
    # The file as Transform named it (a feature's name sanitized), copied into the model.
    path = os.path.join(model_dir, ASSETS_DIRECTORY, vocabulary_filename(feature))
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as handle:
        return handle.read().splitlines()


def _new_vocabulary(transform_output: tft.TFTransformOutput, feature: str
                    ) -> list[bytes] | None:
    try:
        return [token if isinstance(token, bytes) else str(token).encode()
                for token in transform_output.vocabulary_by_name(feature)]
    except (ValueError, KeyError, tf.errors.NotFoundError):
        return None  # a bucketized feature: its ids are bucket numbers, not tokens


def _feature_of(path: str, features: list[str]) -> str | None:
    """The feature an embedding weight belongs to: its layer is named `<prefix>_<feature>`
    (models/layers.py); the longest name wins (`trip_start_day` over `day`)."""
    layer = path.split("/")[0]
    found = [name for name in features if layer == name or layer.endswith(f"_{name}")]
    return max(found, key=len) if found else None


def _network_weights(model_dir: str) -> list[tuple[str, np.ndarray]] | None:
    """The serving model's `network_variables` (models/export.py) as (name, value) pairs in
    build order, read from its checkpoint alone; None when it has none.

    Why not `tf.saved_model.load`: it also restores every function (Transform's graph, the
    signatures) only for these values to be read: 1.5 s on a local disk and 6 s from gs://
    for the testdata model, against milliseconds here. The checkpoint's object graph is the
    SavedModel's own: the root's `network_variables` list, each element's saved value and
    its variable's name."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    reader = tf.train.load_checkpoint(os.path.join(model_dir, "variables", "variables"))
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
        reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    found = [child.node_id for child in graph.nodes[0].children
             if child.local_name == "network_variables"]
    if not found:
        return None
    weights = []
    for element in sorted(graph.nodes[found[0]].children, key=lambda child: int(child.local_name)):
        [saved] = [attribute for attribute in graph.nodes[element.node_id].attributes
                   if attribute.name == "VARIABLE_VALUE"]
        weights.append((saved.full_name, reader.get_tensor(saved.checkpoint_key)))
    return weights


def _is_generator_state(name: str) -> bool:
    return "seed_generator" in name


def _by_token(old: np.ndarray, new: np.ndarray, old_tokens: list[bytes],
              new_tokens: list[bytes], oov_buckets: int) -> np.ndarray:
    """`new` with the rows of `old`'s tokens moved to where `new`'s vocabulary puts them.
    Rows before the tokens (a text feature's padding row) and the out-of-vocabulary rows
    after them keep their places."""
    offset = new.shape[0] - len(new_tokens) - oov_buckets
    if offset < 0 or old.shape[0] - len(old_tokens) - oov_buckets != offset:
        raise ValueError("the table's rows are not its vocabulary and hash buckets")
    table = new.copy()
    table[:offset] = old[:offset]
    position = {token: index for index, token in enumerate(old_tokens)}
    for index, token in enumerate(new_tokens):
        if token in position:
            table[offset + index] = old[offset + position[token]]
    table[offset + len(new_tokens):] = old[offset + len(old_tokens):]
    return table


def warm_start(model: keras.Model, base_model: str | None, settings: Any,
               shapes: FeatureShapes, transform_output: tft.TFTransformOutput) -> WarmStart:
    """Copies `base_model`'s weights (a serving SavedModel directory) into `model` when
    both are the same network (see the module's docstring); returns what was done."""
    if not settings.warm_start:
        return WarmStart(None, OFF)
    if not base_model:
        return WarmStart(None, "no blessed model yet")
    old_settings = _read_json(base_model, "training_settings")
    old_shapes = _read_json(base_model, "feature_shapes")
    if old_settings.get("architecture") != settings.architecture:
        return WarmStart(None, f"the blessed model is a {old_settings.get('architecture')!r} "
                               f"network, this run trains {settings.architecture!r}")
    if old_shapes.get("task") != shapes.task:
        return WarmStart(None, f"the blessed model's task is {old_shapes.get('task')!r}")
    saved = _network_weights(base_model)
    if saved is None:
        return WarmStart(None, "the blessed model saved no network_variables (exported "
                               "before warm starts were possible)")
    # By position: Keras names unnamed layers per process (dense, dense_1, ...), and both
    # lists are the network's variables in build order. The random generators' states
    # (dropout) are not weights.
    old = [(name, value) for name, value in saved if not _is_generator_state(name)]
    new = [(variable.path, variable) for variable in model.variables
           if not _is_generator_state(variable.path)]
    if len(old) != len(new):
        return WarmStart(None, f"the networks differ: {len(old)} weights in the blessed "
                               f"model, {len(new)} in this one")
    vocabulary_features = [*shapes.categorical_cardinalities, *shapes.text]
    old_oov = int(old_settings.get("oov_buckets", settings.oov_buckets))
    matched: set[str] = set()
    values = []
    for (old_path, old_value), (path, variable) in zip(old, new, strict=True):
        feature = _feature_of(path, vocabulary_features)
        if feature != _feature_of(old_path, vocabulary_features):
            return WarmStart(None, f"the networks differ at {path} (was {old_path})")
        new_tokens = _new_vocabulary(transform_output, feature) if feature else None
        old_tokens = _old_vocabulary(base_model, feature) if new_tokens is not None else None
        if old_tokens is not None and old_oov == settings.oov_buckets \
                and old_value.shape[1:] == tuple(variable.shape[1:]):
            try:
                values.append(_by_token(old_value, keras.ops.convert_to_numpy(variable),
                                        old_tokens, new_tokens, settings.oov_buckets))
            except ValueError as error:
                return WarmStart(None, f"{path}: {error}")
            if old_tokens != new_tokens:
                matched.add(feature)
        elif old_value.shape == tuple(variable.shape):
            values.append(old_value)
        else:
            return WarmStart(None, f"{path} changed shape from {old_value.shape} to "
                                   f"{tuple(variable.shape)}")
    for (_, variable), value in zip(new, values, strict=True):
        variable.assign(value)
    return WarmStart(base_model, weights=len(values), matched_by_token=tuple(sorted(matched)))
