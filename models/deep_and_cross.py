"""Deep and cross, DCN-v2 style (Wang et al., 2021): a cross network that builds explicit
feature interactions of rising degree, x_{l+1} = x_0 * (W x_l + b) + x_l, beside an MLP;
their outputs are concatenated for the final logit."""

from __future__ import annotations

import keras

from models.layers import (
    compile_binary_classifier,
    dense_tower,
    embeddings,
    feature_inputs,
    numeric_block,
)
from pipeline.config import PipelineConfig
from preprocessing import FeatureShapes


def build(shapes: FeatureShapes, config: PipelineConfig) -> keras.Model:
    inputs = feature_inputs(shapes)
    parts = embeddings(inputs, shapes, config.embedding_dim, prefix="embedding")
    numeric = numeric_block(inputs, shapes)
    if numeric is not None:
        parts.append(numeric)
    x0 = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
    width = x0.shape[-1]

    crossed = x0
    for index in range(config.cross_layers):
        projected = keras.layers.Dense(width, name=f"cross_{index}")(crossed)
        crossed = keras.layers.Add()([keras.layers.Multiply()([x0, projected]), crossed])

    deep = dense_tower(x0, config)
    combined = keras.layers.Concatenate(name="cross_and_deep")([crossed, deep])
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability")(combined)
    return compile_binary_classifier(
        keras.Model(inputs, probability, name="deep_and_cross"), config)
