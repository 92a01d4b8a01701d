"""TabM-mini: a parameter-efficient ensemble of MLPs (Gorishniy, Kotelnikov and Babenko,
"TabM: Advancing Tabular Deep Learning with Parameter-Efficient Ensembling", ICLR 2025),
written here from the paper for Keras 3.

k members share one MLP. Each member sees the embedded features (categorical embeddings,
the numeric features as Transform encodes them: piecewise-linear by default, which the
paper pairs TabM-mini with) multiplied elementwise by its own trainable scaling vector,
initialised with random signs, so the members start different and stay cheap: one
shared MLP run on k copies of each row, and one linear head per member. Each member is
trained on its own loss (the mean of the members' losses, as the paper trains them:
training on the averaged prediction instead loses most of the ensemble's gain), and
the model answers with the mean of the members' predictions (probabilities for
classification), which is what serving, the Evaluator and the metrics see.

`ENSEMBLE_MEMBERS` is the paper's k = 32. The MLP's width and depth are `hidden_units`,
its dropout `dropout`.
"""

from __future__ import annotations

import keras

from models.layers import compiled_for_task, dense_tower, embedded_features, feature_inputs
from models.shapes import FeatureShapes
from pipeline.settings import TrainingSettings
from tasks.model_parts import model_part

ENSEMBLE_MEMBERS = 32


class MemberScaling(keras.layers.Layer):
    """(batch, d) -> (batch, k, d): k copies of each row, member i's scaled by r_i, a
    trainable vector initialised with random signs (TabM-mini's only adapter)."""

    def __init__(self, members: int, seed: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.members = members
        self.seed = seed

    def build(self, input_shape: tuple) -> None:
        def random_signs(shape: tuple, dtype: str | None = None) -> keras.KerasTensor:
            draws = keras.random.uniform(shape, seed=self.seed)
            return keras.ops.cast(keras.ops.where(draws < 0.5, -1.0, 1.0), dtype or "float32")

        self.scales = self.add_weight(shape=(self.members, input_shape[-1]),
                                      initializer=random_signs, name="scales")

    def call(self, features: keras.KerasTensor) -> keras.KerasTensor:
        return keras.ops.expand_dims(features, 1) * keras.ops.cast(self.scales, features.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "members": self.members, "seed": self.seed}


class EnsembleModel(keras.Model):
    """The mean of the members' predictions as its output; trained on each member's own
    loss (`compute_loss` in training), judged on the mean (validation loss, metrics)."""

    def __init__(self, inputs: dict, outputs: keras.KerasTensor, members: keras.Model,
                 **kwargs) -> None:
        super().__init__(inputs, outputs, **kwargs)
        self.members = members

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,  # noqa: ANN001
                     training=True) -> keras.KerasTensor:  # noqa: ANN001
        if not training or y is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        predictions = self.members(x, training=True)  # (batch, k, units)
        count = predictions.shape[1]
        flat = keras.ops.reshape(predictions, (-1, predictions.shape[-1]))
        repeated = keras.ops.repeat(y, count, axis=0)
        weights = (None if sample_weight is None
                   else keras.ops.repeat(sample_weight, count, axis=0))
        return super().compute_loss(x, repeated, flat, weights, training)


def build(shapes: FeatureShapes, settings: TrainingSettings) -> keras.Model:
    inputs = feature_inputs(shapes)
    features = embedded_features(inputs, shapes, settings.embedding_dim, prefix="embedding")
    copies = MemberScaling(ENSEMBLE_MEMBERS, settings.seed, name="member_scaling")(features)
    hidden = dense_tower(copies, settings)  # Dense acts on the last axis: shared weights
    # One linear head per member: (batch, k, h) -> (batch, k, units).
    logits = keras.layers.EinsumDense("bkh,khu->bku",
                                      output_shape=(ENSEMBLE_MEMBERS, shapes.outputs),
                                      bias_axes="ku", name="member_heads")(hidden)
    member_predictions = model_part(shapes.task).output_layer(logits, shapes)
    mean = keras.layers.Lambda(lambda values: keras.ops.mean(values, axis=1),
                               name="ensemble_mean", dtype="float32")(member_predictions)
    members = keras.Model(inputs, member_predictions, name="tabm_members")
    return compiled_for_task(EnsembleModel(inputs, mean, members, name="tabm"), shapes,
                             settings)
