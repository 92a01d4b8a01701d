"""Exports the trained network as a SavedModel that serves raw, serialized tf.Examples.

The exported module holds the Keras network and Transform's graph side by side (a plain
`tf.Module`, because Transform's layer is Keras 2 and our networks are Keras 3) and
offers three signatures:
- `serving_default`: serialized examples without the label -> what a caller of the task
  needs, as its `serving_outputs` names them (tasks/<name>/graph.py): binary
  `probability` (batch, 1), P(label = 1); multiclass `probabilities` (batch, classes),
  `classes` (batch, classes), the class names in that order, and `class` (batch,), the
  most probable one; regression `value` (batch, 1) in the label's units;
- `transform_features`: serialized examples -> transformed features, which debugging
  tools use to see exactly what the network saw;
- `label_id`: serialized labelled examples -> the label as the network learned it (a
  multi-class label's class id). TFMA reads a multi-class label through it; through
  `transform_features` it would also slice by transformed ids ("island:0") instead of
  the raw values.

`serving_default` runs the network with its weights frozen into the graph as constants
(`frozen_network`): with the weights as variables, every call took each variable's handle
as an input and read it, which on the taxi network (31 variables) was about as long as
all of Transform's graph for one example (docs/benchmarks.md, "Scoring speed of the pushed
model"). The variables are still saved, beside it, for warm starts (`network_variables`);
`assets.extra/serving.json` says which way the network was exported.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from models.package import EXTRA_ASSETS_DIRECTORY
from models.shapes import FeatureShapes
from tasks.graph_parts import graph_part

__all__ = ["EXTRA_ASSETS_DIRECTORY", "ServingModule", "export_serving_model", "frozen_network",
           "serving_network"]

logger = logging.getLogger(__name__)


# A SavedModel's graph is one protocol buffer, which cannot exceed 2 GiB, so weights frozen
# into it must leave room for the rest of the graph; a larger network serves from its
# variables.
FREEZE_LIMIT_BYTES = 2**30


def frozen_network(model: keras.Model) -> Callable[[dict[str, tf.Tensor]], tf.Tensor]:
    """The network in inference mode as a function of its named inputs, its weights
    constants of the graph instead of variables: what a model server then runs per call
    is the arithmetic alone, with no variable handles to pass in and read (TensorFlow's
    own freezing, `convert_variables_to_constants_v2`, the tool behind TF1's frozen
    graphs). The answers are the network's to the last bit: the same kernels run on the
    same values."""
    specs = {name: tf.TensorSpec(tensor.shape, tensor.dtype, name=name)
             for name, tensor in model.input.items()}
    traced = tf.function(lambda features: model(features, training=False),
                         autograph=False).get_concrete_function(specs)
    frozen = convert_variables_to_constants_v2(traced)

    def network(features: dict[str, tf.Tensor]) -> tf.Tensor:
        # The frozen function takes its inputs flat, in the order tf.nest gives the dict.
        outputs = frozen(*tf.nest.flatten(network_inputs(model, features)))
        return tf.nest.pack_sequence_as(traced.structured_outputs, tf.nest.flatten(outputs))

    return network


def network_inputs(model: keras.Model, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The transformed features the network reads, by its input names."""
    return {name: features[name] for name in model.input}


def serving_network(model: keras.Model
                    ) -> tuple[Callable[[dict[str, tf.Tensor]], tf.Tensor], dict[str, Any]]:
    """The network as `serving_default` runs it, frozen unless its weights are over
    `FREEZE_LIMIT_BYTES`, and how it was exported (written to assets.extra/serving.json)."""
    weight_bytes = sum(int(np.prod(variable.shape)) * tf.as_dtype(variable.dtype).size
                       for variable in model.variables)
    if weight_bytes > FREEZE_LIMIT_BYTES:
        why = (f"{weight_bytes:,} bytes of weights, over the {FREEZE_LIMIT_BYTES:,} that a "
               "SavedModel's graph can hold beside the rest")
        logger.info("Serving the network from its variables: %s", why)
        return (lambda features: model(network_inputs(model, features), training=False),
                {"weights": "variables", "weight_bytes": weight_bytes, "why": why})
    return frozen_network(model), {"weights": "constants", "weight_bytes": weight_bytes}


class ServingModule(tf.Module):
    """The network and Transform's graph, with the three signatures described above."""

    def __init__(self, model: keras.Model, transform_output: tft.TFTransformOutput,
                 label_name: str, shapes: FeatureShapes) -> None:
        super().__init__()
        if not isinstance(model.input, dict):
            raise TypeError(f"Model {model.name!r} must take a dict of named feature inputs "
                            "(see models/layers.py: feature_inputs).")
        self.model = model
        # The network's variables as TensorFlow variables, tracked by this module. Keras 3
        # tracks them only through its own Variable wrappers, which tf.saved_model.load
        # restores but TensorFlow's C++ loader (TF Serving, Vertex AI's prebuilt
        # containers, TFX's BulkInferrer) does not: there every variable "could not be
        # found". Tracked here, they are restored by the SavedModel's own restore op.
        self.network_variables = [variable.value for variable in model.variables]
        self.transform_layer = transform_output.transform_features_layer()
        self._raw_spec = transform_output.raw_feature_spec()
        self._serving_spec = {k: v for k, v in self._raw_spec.items() if k != label_name}
        self._network, self.export_details = serving_network(model)
        self._label_name = label_name
        self._outputs = graph_part(shapes.task).serving_outputs
        self._class_names = tf.constant(list(shapes.class_names), tf.string)

    # autograph=False: nothing here branches on tensors, and AutoGraph would spend most of
    # the export converting Keras's own Python source.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def serve(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = tf.io.parse_example(examples, self._serving_spec)
        return self._outputs(self._network(self.transform_layer(raw)), self._class_names)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def transform_features(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.transform_layer(tf.io.parse_example(examples, self._raw_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def label_id(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        transformed = self.transform_layer(tf.io.parse_example(examples, self._raw_spec))
        return {self._label_name: transformed[self._label_name]}


def _without_keras2_call_traces() -> contextlib.AbstractContextManager:
    """Stops Keras 2 from re-tracing Transform's layer for its own loader (5 of the 8 s an
    export takes here): the signatures above already hold that graph, and nothing loads the
    layer back as Keras. Falls back to a plain save if tf-keras moves this private option."""
    try:
        from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope
    except ImportError:
        return contextlib.nullcontext()
    return keras_option_scope(save_traces=False, in_tf_saved_model_scope=True)


def export_serving_model(model: keras.Model, transform_output: tft.TFTransformOutput,
                         label_name: str, directory: str,
                         shapes: FeatureShapes,
                         extra_assets: dict[str, Any] | None = None) -> None:
    """Writes the SavedModel, plus JSON files under assets.extra/ that travel with it.
    `shapes` gives the task and the label's class names (a task with classes)."""
    module = ServingModule(model, transform_output, label_name, shapes)
    with _without_keras2_call_traces():
        tf.saved_model.save(
            module,
            directory,
            signatures={
                "serving_default": module.serve.get_concrete_function(),
                "transform_features": module.transform_features.get_concrete_function(),
                "label_id": module.label_id.get_concrete_function(),
            },
        )
    extra_directory = os.path.join(directory, EXTRA_ASSETS_DIRECTORY)
    tf.io.gfile.makedirs(extra_directory)
    for name, content in {**(extra_assets or {}), "serving": module.export_details}.items():
        with tf.io.gfile.GFile(os.path.join(extra_directory, f"{name}.json"), "w") as handle:
            handle.write(json.dumps(content, indent=2, sort_keys=True))
