"""A deep network: embeddings of every categorical feature and the numeric features, then an MLP."""

from __future__ import annotations

import keras

from models.layers import (
    compile_binary_classifier,
    dense_tower,
    embedded_features,
    feature_inputs,
)
from pipeline.config import TrainingSettings
from preprocessing import FeatureShapes


def build(shapes: FeatureShapes, settings: TrainingSettings) -> keras.Model:
    inputs = feature_inputs(shapes)
    features = embedded_features(inputs, shapes, settings.embedding_dim, prefix="embedding")
    hidden = dense_tower(features, settings)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability")(hidden)
    return compile_binary_classifier(keras.Model(inputs, probability, name="deep"), settings)
