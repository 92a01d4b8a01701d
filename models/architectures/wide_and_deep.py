"""Wide and deep (Cheng et al., 2016): a linear model over every category id (and every
text's bag of words), which memorises sparse patterns, summed in logit space with a deep
network that generalises. Logits are one per class for a multi-class task."""

from __future__ import annotations

import keras

from models.layers import (
    dense_tower,
    embedded_features,
    embeddings,
    feature_inputs,
    numeric_block,
    task_logits,
    task_model,
)
from models.shapes import FeatureShapes
from pipeline.settings import TrainingSettings


def build(shapes: FeatureShapes, settings: TrainingSettings) -> keras.Model:
    inputs = feature_inputs(shapes)
    numeric = numeric_block(inputs, shapes)

    # Wide part: an embedding as wide as the logits per feature is a one-hot linear model.
    wide_terms = embeddings(inputs, shapes, shapes.outputs, prefix="wide")
    if numeric is not None:
        wide_terms.append(keras.layers.Dense(shapes.outputs, use_bias=False,
                                             name="wide_numeric")(numeric))
    wide_logits = wide_terms[0] if len(wide_terms) == 1 else keras.layers.Add()(wide_terms)

    deep_features = embedded_features(inputs, shapes, settings.embedding_dim, prefix="deep")
    deep_logits = task_logits(dense_tower(deep_features, settings), shapes, name="deep_logits")

    logits = keras.layers.Add(name="logits")([wide_logits, deep_logits])
    return task_model(inputs, logits, shapes, settings, name="wide_and_deep")
