"""Exports the trained network as a SavedModel that serves raw, serialized tf.Examples.

The exported module holds the Keras network and Transform's graph side by side (a plain
`tf.Module`, because Transform's layer is Keras 2 and our networks are Keras 3) and
offers two signatures:
- `serving_default`: serialized examples without the label -> `probabilities` (batch, 1);
- `transform_features`: serialized examples -> transformed features, which TFMA and
  debugging tools use to see exactly what the network saw.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft

EXTRA_ASSETS_DIRECTORY = "assets.extra"


class ServingModule(tf.Module):
    """The network and Transform's graph, with the two signatures described above."""

    def __init__(self, model: keras.Model, transform_output: tft.TFTransformOutput,
                 label_name: str) -> None:
        super().__init__()
        if not isinstance(model.input, dict):
            raise TypeError(f"Model {model.name!r} must take a dict of named feature inputs "
                            "(see models/layers.py: feature_inputs).")
        self.model = model
        self.transform_layer = transform_output.transform_features_layer()
        self._raw_spec = transform_output.raw_feature_spec()
        self._serving_spec = {k: v for k, v in self._raw_spec.items() if k != label_name}
        self._input_names = list(model.input)

    # autograph=False: nothing here branches on tensors, and AutoGraph would spend most of
    # the export converting Keras's own Python source.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def serve(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = tf.io.parse_example(examples, self._serving_spec)
        transformed = self.transform_layer(raw)
        inputs = {name: transformed[name] for name in self._input_names}
        return {"probabilities": self.model(inputs, training=False)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def transform_features(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.transform_layer(tf.io.parse_example(examples, self._raw_spec))


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
                         extra_assets: dict[str, Any] | None = None) -> None:
    """Writes the SavedModel, plus JSON files under assets.extra/ that travel with it."""
    module = ServingModule(model, transform_output, label_name)
    with _without_keras2_call_traces():
        tf.saved_model.save(
            module,
            directory,
            signatures={
                "serving_default": module.serve.get_concrete_function(),
                "transform_features": module.transform_features.get_concrete_function(),
            },
        )
    extra_directory = os.path.join(directory, EXTRA_ASSETS_DIRECTORY)
    tf.io.gfile.makedirs(extra_directory)
    for name, content in (extra_assets or {}).items():
        with tf.io.gfile.GFile(os.path.join(extra_directory, f"{name}.json"), "w") as handle:
            handle.write(json.dumps(content, indent=2, sort_keys=True))
