"""Building blocks shared by the architectures: typed inputs, embeddings, compilation."""

from __future__ import annotations

import keras

from pipeline.config import TrainingSettings
from preprocessing import FeatureShapes


def feature_inputs(shapes: FeatureShapes) -> dict[str, keras.KerasTensor]:
    """One scalar input per transformed feature: float for numeric, int64 for ids."""
    inputs = {name: keras.Input(shape=(), name=name, dtype="float32") for name in shapes.numeric}
    inputs.update({
        name: keras.Input(shape=(), name=name, dtype="int64")
        for name in shapes.categorical_cardinalities
    })
    return inputs


def numeric_block(inputs: dict[str, keras.KerasTensor], shapes: FeatureShapes
                  ) -> keras.KerasTensor | None:
    """The numeric features side by side, shape (batch, number of numeric features)."""
    if not shapes.numeric:
        return None
    columns = [keras.layers.Reshape((1,))(inputs[name]) for name in shapes.numeric]
    return columns[0] if len(columns) == 1 else keras.layers.Concatenate()(columns)


def embeddings(inputs: dict[str, keras.KerasTensor], shapes: FeatureShapes, dimension: int,
               prefix: str) -> list[keras.KerasTensor]:
    """One embedding of `dimension` per categorical feature, sized by its cardinality."""
    return [
        keras.layers.Embedding(cardinality, dimension, name=f"{prefix}_{name}")(inputs[name])
        for name, cardinality in shapes.categorical_cardinalities.items()
    ]


def embedded_features(inputs: dict[str, keras.KerasTensor], shapes: FeatureShapes,
                      dimension: int, prefix: str) -> keras.KerasTensor:
    """Every categorical embedding and the numeric block, concatenated into one vector."""
    parts = embeddings(inputs, shapes, dimension, prefix)
    numeric = numeric_block(inputs, shapes)
    if numeric is not None:
        parts.append(numeric)
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)


def dense_tower(features: keras.KerasTensor, settings: TrainingSettings) -> keras.KerasTensor:
    for index, units in enumerate(settings.hidden_units):
        features = keras.layers.Dense(units, activation="relu", name=f"hidden_{index}")(features)
        if settings.dropout > 0:
            features = keras.layers.Dropout(settings.dropout, seed=settings.seed)(features)
    return features


def compile_binary_classifier(model: keras.Model, settings: TrainingSettings) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model
