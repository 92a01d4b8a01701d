"""Deep and cross, DCN-v2 style (Wang et al., 2021): a cross network that builds explicit
feature interactions of rising degree, x_{l+1} = x_0 * (W x_l + b) + x_l, beside an MLP;
their outputs are concatenated for the final logit."""

from __future__ import annotations

import keras

from models.layers import dense_tower, embedded_features, feature_inputs, task_logits, task_model
from models.shapes import FeatureShapes
from pipeline.settings import TrainingSettings


def build(shapes: FeatureShapes, settings: TrainingSettings) -> keras.Model:
    inputs = feature_inputs(shapes)
    x0 = embedded_features(inputs, shapes, settings.embedding_dim, prefix="embedding")
    width = x0.shape[-1]

    crossed = x0
    for index in range(settings.cross_layers):
        projected = keras.layers.Dense(width, name=f"cross_{index}")(crossed)
        crossed = keras.layers.Add()([keras.layers.Multiply()([x0, projected]), crossed])

    deep = dense_tower(x0, settings)
    combined = keras.layers.Concatenate(name="cross_and_deep")([crossed, deep])
    return task_model(inputs, task_logits(combined, shapes), shapes, settings,
                      name="deep_and_cross")
