"""The text classifier: embedding -> BiLSTM/BiGRU -> attention pooling head -> softmax."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from attnkit.layers import (
    AdditiveAttention,
    BidirectionalRNN,
    GlobalContextAttention,
    LowRankMultiHeadAttention,
    MaskedMeanPooling,
    MultiHeadSelfAttention,
)
from attnkit.layers.export import register

HEADS = ("additive", "global-context", "lama", "mhsa")
ENCODERS = ("bilstm", "bigru")
ATTENTION_LAYER = "attention_head"


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


@register
class TextClassifier(keras.Model):
    """Binary or multi-class text classifier with a choice of attention pooling head.

    Token ids (0 = padding) -> embedding -> dropout -> bidirectional LSTM/GRU (``units`` per
    direction) -> dropout -> pooling head -> dropout -> softmax over ``num_classes``.

    Heads (the attention layer is named ``"attention_head"``):

    - ``"additive"``: :class:`AdditiveAttention` pooling (``attention_units`` hidden).
    - ``"global-context"``: :class:`GlobalContextAttention` (HAN-style learned context).
    - ``"lama"``: :class:`LowRankMultiHeadAttention` with ``num_heads`` heads; the flattened
      structured embedding feeds the classifier (LAMA paper, Figure 1).
    - ``"mhsa"``: :class:`MultiHeadSelfAttention` block then masked mean pooling (baseline).

    Args:
        vocabulary_size: int. Number of token ids (id 0 is padding).
        num_classes: int. Number of output classes (>= 2; binary uses a 2-way softmax).
        embedding_dim: int. Token embedding size.
        encoder: ``"bilstm"`` or ``"bigru"``.
        units: int. Recurrent units per direction (the token dim is ``2 * units``).
        head: one of ``HEADS``.
        attention_units: int. Hidden size of the additive / global-context scorer.
        num_heads: int. Heads of the LAMA or MHSA head.
        context: ``"learned"`` or ``"mean"``: LAMA's / global-context's context vector.
        token_mlp: bool. LAMA's per-token tanh layer (u_t = tanh(W h_t + b)).
        penalty: float. LAMA's optional ``||AA^T - I||^2`` penalty weight.
        hidden_units: int. Optional dense layer before the softmax (0 = none).
        dropout: float. Dropout after the embedding, the encoder and the head.
        freeze_embeddings: bool. Keep the token embeddings fixed (e.g. pretrained ones).

    Example:
        >>> model = TextClassifier(vocabulary_size=50, num_classes=3, embedding_dim=8, units=4,
        ...                        head="lama", num_heads=2)
        >>> model.predict(np.array([[5, 6, 0]]), verbose=0).shape
        (1, 3)
    """

    def __init__(
        self,
        vocabulary_size: int,
        num_classes: int,
        embedding_dim: int = 128,
        encoder: str = "bilstm",
        units: int = 128,
        head: str = "additive",
        attention_units: int = 128,
        num_heads: int = 8,
        context: str = "learned",
        token_mlp: bool = True,
        penalty: float = 0.0,
        hidden_units: int = 0,
        dropout: float = 0.3,
        freeze_embeddings: bool = False,
        **kwargs,
    ) -> None:
        _check_choice("head", head, HEADS)
        _check_choice("encoder", encoder, ENCODERS)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if vocabulary_size < 3:
            raise ValueError(f"vocabulary_size must be >= 3, got {vocabulary_size}")

        # === Layers ===
        embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, trainable=not freeze_embeddings, name="embedding"
        )
        rnn = BidirectionalRNN(units, cell=encoder[2:], name="encoder")
        if head == "additive":
            attention = AdditiveAttention(attention_units, name=ATTENTION_LAYER)
        elif head == "global-context":
            attention = GlobalContextAttention(attention_units, context=context, name=ATTENTION_LAYER)
        elif head == "lama":
            attention = LowRankMultiHeadAttention(
                num_heads, context=context, token_mlp=token_mlp, penalty=penalty, name=ATTENTION_LAYER
            )
        else:
            attention = MultiHeadSelfAttention(num_heads, dropout=dropout, name=ATTENTION_LAYER)

        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        mask = ops.not_equal(token_ids, 0)
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(embedding(token_ids))
        x = keras.layers.Dropout(dropout, name="encoder_dropout")(rnn(x, mask=mask))
        if head == "mhsa":
            sequence, _ = attention(x, mask=mask)
            pooled = MaskedMeanPooling(name="pooling")(sequence, mask=mask)
        else:
            pooled, _ = attention(x, mask=mask)
        pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
        if hidden_units:
            pooled = keras.layers.Dense(hidden_units, activation="relu", name="hidden")(pooled)
        probabilities = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(
            pooled
        )
        super().__init__(inputs={"token_ids": token_ids}, outputs=probabilities, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.encoder = encoder
        self.units = units
        self.head = head
        self.attention_units = attention_units
        self.num_heads = num_heads
        self.context = context
        self.token_mlp = token_mlp
        self.penalty = penalty
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.freeze_embeddings = freeze_embeddings

    @property
    def attention_layer(self) -> keras.layers.Layer:
        return self.get_layer(ATTENTION_LAYER)

    def attention_model(self) -> keras.Model:
        """A model from the same inputs to the head's raw attention weights."""
        return keras.Model(self.input, self.attention_layer.output[1])

    def token_attention(self, inputs: dict, batch_size: int = 256) -> np.ndarray:
        """Per-token attention weights (batch, time), summing to 1 over real tokens.

        LAMA averages its heads; MHSA averages heads and real query positions.
        """
        raw = self.attention_model().predict(inputs, batch_size=batch_size, verbose=0)
        mask = np.asarray(inputs["token_ids"]) != 0
        if raw.ndim == 3:
            raw = raw.mean(axis=1)
        elif raw.ndim == 4:
            queries = np.maximum(mask.sum(axis=1), 1)[:, None]
            raw = raw.mean(axis=1).sum(axis=1) / queries
        return raw * mask

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim,
            "encoder": self.encoder,
            "units": self.units,
            "head": self.head,
            "attention_units": self.attention_units,
            "num_heads": self.num_heads,
            "context": self.context,
            "token_mlp": self.token_mlp,
            "penalty": self.penalty,
            "hidden_units": self.hidden_units,
            "dropout": self.dropout,
            "freeze_embeddings": self.freeze_embeddings,
        }

    @classmethod
    def from_config(cls, config: dict) -> TextClassifier:
        return cls(**config)
