"""A deep network: embeddings of every categorical feature and the numeric features, then an MLP."""

from __future__ import annotations

import keras

from models.layers import dense_tower, embedded_features, feature_inputs, task_logits, task_model
from models.shapes import FeatureShapes
from pipeline.settings import TrainingSettings


def build(shapes: FeatureShapes, settings: TrainingSettings) -> keras.Model:
    inputs = feature_inputs(shapes)
    features = embedded_features(inputs, shapes, settings.embedding_dim, prefix="embedding")
    logits = task_logits(dense_tower(features, settings), shapes)
    return task_model(inputs, logits, shapes, settings, name="deep")
