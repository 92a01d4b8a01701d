"""Building blocks shared by the architectures: typed inputs, embeddings, and the task's
head and loss (tasks/<name>/model.py)."""

from __future__ import annotations

import keras

from models.shapes import PADDING_TOKEN_ID, FeatureShapes
from models.sizing import BASE_LEARNING_RATE
from pipeline.settings import TrainingSettings
from pipeline.settings.values import AUTO
from tasks.model_parts import model_part


def feature_inputs(shapes: FeatureShapes) -> dict[str, keras.KerasTensor]:
    """One input per transformed feature: a float for numeric, an int64 id for categorical,
    a fixed-length row of int64 token ids for text."""
    width = () if shapes.numeric_width == 1 else (shapes.numeric_width,)
    inputs = {name: keras.Input(shape=width, name=name, dtype="float32")
              for name in shapes.numeric}
    inputs.update({
        name: keras.Input(shape=(), name=name, dtype="int64")
        for name in shapes.categorical_cardinalities
    })
    inputs.update({name: keras.Input(shape=(length,), name=name, dtype="int64")
                   for name, (_, length) in shapes.text.items()})
    return inputs


class TokenBag(keras.layers.Layer):
    """The mean of a text's token embeddings, padding left out: a bag of words that an MLP
    (or, one unit wide, a linear model) can read."""

    def __init__(self, vocabulary: int, dimension: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(vocabulary, dimension)

    def call(self, token_ids: keras.KerasTensor) -> keras.KerasTensor:
        vectors = self.embedding(token_ids)
        present = keras.ops.expand_dims(
            keras.ops.cast(keras.ops.not_equal(token_ids, PADDING_TOKEN_ID), vectors.dtype), -1)
        return (keras.ops.sum(vectors * present, axis=1)
                / keras.ops.maximum(keras.ops.sum(present, axis=1), 1.0))


def token_sequences(inputs: dict[str, keras.KerasTensor], shapes: FeatureShapes,
                    dimension: int, prefix: str) -> list[keras.KerasTensor]:
    """Per text feature, its tokens' embeddings as a sequence (batch, length, dimension)."""
    return [keras.layers.Embedding(size, dimension, name=f"{prefix}_{name}")(inputs[name])
            for name, (size, _) in shapes.text.items()]


def numeric_block(inputs: dict[str, keras.KerasTensor], shapes: FeatureShapes
                  ) -> keras.KerasTensor | None:
    """The numeric features side by side, shape (batch, numeric features * their width)."""
    if not shapes.numeric:
        return None
    columns = [keras.layers.Reshape((shapes.numeric_width,))(inputs[name])
               for name in shapes.numeric]
    return columns[0] if len(columns) == 1 else keras.layers.Concatenate()(columns)


def categorical_embeddings(inputs: dict[str, keras.KerasTensor], shapes: FeatureShapes,
                           dimension: int, prefix: str) -> list[keras.KerasTensor]:
    """One embedding of `dimension` per categorical feature, sized by its cardinality."""
    return [
        keras.layers.Embedding(cardinality, dimension, name=f"{prefix}_{name}")(inputs[name])
        for name, cardinality in shapes.categorical_cardinalities.items()
    ]


def embeddings(inputs: dict[str, keras.KerasTensor], shapes: FeatureShapes, dimension: int,
               prefix: str) -> list[keras.KerasTensor]:
    """A vector of `dimension` per categorical feature (its embedding) and per text
    feature (its bag of token embeddings)."""
    return categorical_embeddings(inputs, shapes, dimension, prefix) + [
        TokenBag(size, dimension, name=f"{prefix}_{name}")(inputs[name])
        for name, (size, _) in shapes.text.items()]


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


def task_logits(features: keras.KerasTensor, shapes: FeatureShapes, name: str = "logits"
                ) -> keras.KerasTensor:
    """The last linear layer: as many units as the task's output needs."""
    return keras.layers.Dense(shapes.outputs, name=name)(features)


def task_output(logits: keras.KerasTensor, shapes: FeatureShapes) -> keras.KerasTensor:
    """What the model answers, as its task's output layer makes it (tasks/<name>/model.py):
    P(positive), a probability per class, or the value in the label's own units."""
    return model_part(shapes.task).output_layer(logits, shapes)


def task_model(inputs: dict[str, keras.KerasTensor], logits: keras.KerasTensor,
               shapes: FeatureShapes, settings: TrainingSettings, name: str) -> keras.Model:
    """The model from its inputs and last linear layer, with the task's output, compiled
    with the task's loss and metrics (named as the Tuner's objective expects)."""
    return compiled_for_task(keras.Model(inputs, task_output(logits, shapes), name=name),
                             shapes, settings)


def compiled_for_task(model: keras.Model, shapes: FeatureShapes, settings: TrainingSettings
                      ) -> keras.Model:
    """`model` compiled with Adam at the settings' learning rate and its task's loss and
    metrics. The Trainer sizes an `auto` rate before it builds (models/sizing.py); a
    model built outside it (tests, benchmarks) starts at sizing's base rate."""
    part = model_part(shapes.task)
    learning_rate = (BASE_LEARNING_RATE if settings.learning_rate == AUTO
                     else settings.learning_rate)
    if keras.backend.backend() == "tensorflow":  # the Trainer's; benchmarks run JAX too
        from models.distribution import ReplicaAdam as Adam
    else:
        Adam = keras.optimizers.Adam  # noqa: N806 - a class
    model.compile(optimizer=Adam(learning_rate=learning_rate),
                  loss=part.loss(), metrics=part.metrics())
    # The optimizer's slots now, not inside the first traced train step: Keras builds them
    # there unless a distribution strategy is set, and a tf.function that creates variables
    # is traced twice: on testdata/ the Trainer's fit took 14.5 s before, 7.5 s after.
    model.optimizer.build(model.trainable_variables)
    return model
