"""An attention model for tables, in the manner of FT-Transformer (Gorishniy et al., 2021):
every feature becomes a token (an embedding for a category, a learned per-feature
projection for a number, one token per word of a text), transformer blocks let each token
attend to the others, and the mean token feeds the task's head. Tokens are
`embedding_dim` wide."""

from __future__ import annotations

import keras

from models.layers import (
    categorical_embeddings,
    feature_inputs,
    numeric_block,
    task_logits,
    task_model,
    token_sequences,
)
from models.shapes import FeatureShapes
from pipeline.settings import TrainingSettings


def transformer_block(tokens: keras.KerasTensor, settings: TrainingSettings, index: int
                      ) -> keras.KerasTensor:
    """Pre-norm self-attention and a feed-forward layer, each with a residual connection."""
    width = tokens.shape[-1]
    normed = keras.layers.LayerNormalization(name=f"attention_norm_{index}")(tokens)
    attended = keras.layers.MultiHeadAttention(
        num_heads=settings.attention_heads, key_dim=max(1, width // settings.attention_heads),
        dropout=settings.dropout, name=f"attention_{index}")(normed, normed)
    tokens = keras.layers.Add()([tokens, attended])
    normed = keras.layers.LayerNormalization(name=f"feed_forward_norm_{index}")(tokens)
    hidden = keras.layers.Dense(2 * width, activation="relu", name=f"feed_forward_{index}")(normed)
    hidden = keras.layers.Dense(width, name=f"feed_forward_out_{index}")(hidden)
    return keras.layers.Add()([tokens, hidden])


def build(shapes: FeatureShapes, settings: TrainingSettings) -> keras.Model:
    inputs = feature_inputs(shapes)
    width = settings.embedding_dim
    tokens = [keras.layers.Reshape((1, width))(embedded)
              for embedded in categorical_embeddings(inputs, shapes, width, prefix="token")]
    # A text's words are tokens beside the features' (padding included: a learned token).
    tokens += token_sequences(inputs, shapes, width, prefix="words")
    numeric = numeric_block(inputs, shapes)
    if numeric is not None:
        count = len(shapes.numeric)
        # One weight matrix and one bias vector per numeric feature: token_i = W_i x_i + b_i
        # (x_i the feature's value, or its encoding's vector).
        tokens.append(keras.layers.EinsumDense(
            "bnw,nwd->bnd", output_shape=(count, width), bias_axes="nd",
            name="numeric_tokens")(keras.layers.Reshape((count, shapes.numeric_width))(
                numeric)))
    sequence = tokens[0] if len(tokens) == 1 else keras.layers.Concatenate(axis=1)(tokens)
    for index in range(settings.transformer_blocks):
        sequence = transformer_block(sequence, settings, index)
    pooled = keras.layers.GlobalAveragePooling1D()(
        keras.layers.LayerNormalization(name="final_norm")(sequence))
    return task_model(inputs, task_logits(pooled, shapes), shapes, settings,
                      name="feature_transformer")
