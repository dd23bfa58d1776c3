"""The inputs every ABSA model takes, and the attention interface PSS relies on.

``sentence_ids`` (B, n) the sentence's token ids, aspect included; ``aspect_ids`` (B, m);
``context_mask`` (B, n) 1 on the context tokens the aspect attention may cover (the aspect
and padding are 0); ``positions`` (B, 3) first and last aspect token and sentence length;
``row`` (B,) the example's index in its split. The models ignore ``row``; row-keyed
training strategies (PSS) use it to find an example's extracted words.

Example:
    >>> sorted(ABSA_INPUTS)
    ['aspect_ids', 'context_mask', 'positions', 'row', 'sentence_ids']
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

ABSA_INPUTS = ("sentence_ids", "aspect_ids", "context_mask", "positions", "row")


def absa_inputs() -> dict[str, Any]:
    """Fresh ``keras.Input`` tensors for :data:`ABSA_INPUTS`."""
    return {
        "sentence_ids": keras.Input(shape=(None,), dtype="int32", name="sentence_ids"),
        "aspect_ids": keras.Input(shape=(None,), dtype="int32", name="aspect_ids"),
        "context_mask": keras.Input(shape=(None,), dtype="int32", name="context_mask"),
        "positions": keras.Input(shape=(3,), dtype="int32", name="positions"),
        "row": keras.Input(shape=(), dtype="int32", name="row"),
    }


def token_encoder(
    vocabulary_size: int, embedding_dim: int, freeze: bool, name: str, bert_layers: int = 0,
    bert_heads: int = 12, bert_intermediate_size: int = 1536, bert_cache_size: int = 20000,
    cls_id: int = -1, sep_id: int = -1,
) -> keras.layers.Layer:
    """A token table (``bert_layers=0``) or the first ``bert_layers`` layers of a BERT
    encoder (contextual embeddings, :class:`attnkit.layers.BertEncoder`, caching its outputs
    when frozen)."""
    if not bert_layers:
        return keras.layers.Embedding(vocabulary_size, embedding_dim, trainable=not freeze,
                                      name=name)
    if bert_layers < 0 or cls_id < 0 or sep_id < 0:
        raise ValueError("bert_layers needs a BERT checkpoint's tokenizer ([CLS] and [SEP] "
                         "ids): set preprocess.pretrained")
    from attnkit.layers.bert_encoder import BertEncoder

    encoder = BertEncoder(vocabulary_size, embedding_dim, bert_layers, bert_heads,
                          bert_intermediate_size, cls_id=cls_id, sep_id=sep_id,
                          cache_size=bert_cache_size, name="bert")
    encoder.trainable = not freeze
    return encoder


def embed(layer: keras.layers.Layer, ids):
    """Embeddings of ``ids`` with id 0 (padding, erased words) as the zero vector (a BERT
    encoder also leaves id 0 out of its self-attention)."""
    return layer(ids) * ops.expand_dims(ops.cast(ops.not_equal(ids, 0), "float32"), -1)


class _Holder:
    """Keeps a value out of Keras' layer tracking (so it is neither saved nor traversed)."""

    def __init__(self) -> None:
        self.value = None


class AttentionExposingModel(keras.Model):
    """A functional ABSA model that also exposes its aspect attention over context positions.

    PSS (and ``explain``) use: :attr:`attention_inputs` (the input names of the token ids and
    the attention mask, erased together), :meth:`with_attention` (probabilities and the
    attention (B, n) in one differentiable forward pass).
    """

    attention_inputs = ("sentence_ids", "context_mask")

    def _expose(self, attention) -> None:
        self._attention_tensor = _Holder()
        self._attention_tensor.value = attention
        self._attention_model = _Holder()

    def attention_model(self) -> keras.Model:
        """A model from the same inputs to ``[probabilities, attention]``."""
        if self._attention_model.value is None:
            self._attention_model.value = keras.Model(
                self.input, [self.output, self._attention_tensor.value]
            )
        return self._attention_model.value

    def with_attention(self, inputs: dict, training: bool = False):
        """``(probabilities (B, C), attention (B, n))`` for a batch of model inputs."""
        return self.attention_model()(inputs, training=training)
