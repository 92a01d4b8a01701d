"""A deep network: embeddings of every categorical feature and the numeric features, then an MLP."""

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
    features = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
    hidden = dense_tower(features, config)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability")(hidden)
    return compile_binary_classifier(keras.Model(inputs, probability, name="deep"), config)
