"""Wide and deep (Cheng et al., 2016): a linear model over every category id, which
memorises sparse patterns, summed in logit space with a deep network that generalises."""

from __future__ import annotations

import keras

from models.layers import (
    compile_binary_classifier,
    dense_tower,
    embedded_features,
    embeddings,
    feature_inputs,
    numeric_block,
)
from pipeline.config import TrainingSettings
from preprocessing import FeatureShapes


def build(shapes: FeatureShapes, settings: TrainingSettings) -> keras.Model:
    inputs = feature_inputs(shapes)
    numeric = numeric_block(inputs, shapes)

    # Wide part: a one-dimensional embedding per feature is a one-hot linear model.
    wide_terms = embeddings(inputs, shapes, 1, prefix="wide")
    if numeric is not None:
        wide_terms.append(keras.layers.Dense(1, use_bias=False, name="wide_numeric")(numeric))
    wide_logit = wide_terms[0] if len(wide_terms) == 1 else keras.layers.Add()(wide_terms)

    deep_features = embedded_features(inputs, shapes, settings.embedding_dim, prefix="deep")
    deep_logit = keras.layers.Dense(1, name="deep_logit")(dense_tower(deep_features, settings))

    logit = keras.layers.Add(name="logit")([wide_logit, deep_logit])
    probability = keras.layers.Activation("sigmoid", name="probability")(logit)
    return compile_binary_classifier(
        keras.Model(inputs, probability, name="wide_and_deep"), settings
    )
