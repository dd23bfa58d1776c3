"""MemNet (Tang et al. 2016) as the PSS paper's MN baseline uses it (spec §6)."""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers.attention_softmax import AttentionSoftmax
from attnkit.layers.export import register
from attnkit.layers.masking import masked_mean
from attnkit.tasks.absa.inputs import AttentionExposingModel, absa_inputs, embed, token_encoder

TABLES = ("shared", "separate")


@register
class MemNet(AttentionExposingModel):
    """Multi-hop memory network: the aspect vector attends over the context word memory.

    ``v = mean(B[aspect])``; each hop: ``alpha = softmax_i(A[ctx_i] . (v M))`` over context
    tokens, ``o = sum_i alpha_i C[ctx_i]``, ``v <- o + v H``; ``p = softmax(v W)``. The
    context is the sentence without the aspect (the context mask). With ``tables="separate"``
    A, B and C are three tables (the MN code), with ``"shared"`` one table (the recipes:
    frozen pretrained word pieces, so three copies would be the same table).
    The attention PSS supervises is the last hop's.

    Args:
        vocabulary_size: int. Token ids (0 = padding).
        num_classes: int. Polarities.
        embedding_dim: int. Embedding size (384 for all-MiniLM-L6-v2).
        tables: ``"shared"`` or ``"separate"``.
        freeze_embeddings: bool. Keep the embedding table(s) fixed.
        hops: int. Memory hops (the MN code's README uses 1).
        dropout: float. Dropout on the memory and aspect embeddings (the MN code uses none).
        bert_layers: int. 0: a token table; N: the first N layers of a BERT checkpoint give
            contextual embeddings (``preprocess.pretrained`` names it; frozen ones are cached).
        bert_heads, bert_intermediate_size: int. The BERT layers' shape (MiniLM: 12, 1536).
        bert_cache_size: int. Sequences a frozen BERT encoder remembers.
        cls_id, sep_id: int. The tokenizer's ``[CLS]``/``[SEP]`` ids (from the data).

    Example:
        >>> import numpy as np
        >>> model = MemNet(vocabulary_size=20, num_classes=3, embedding_dim=8)
        >>> x = {"sentence_ids": np.array([[3, 4, 5]]), "aspect_ids": np.array([[4]]),
        ...      "context_mask": np.array([[1, 0, 1]]), "positions": np.array([[1, 1, 3]]),
        ...      "row": np.array([0])}
        >>> probabilities, attention = model.with_attention(x)
        >>> tuple(probabilities.shape), float(attention[0, 1])
        ((1, 3), 0.0)
    """

    def __init__(
        self,
        vocabulary_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        tables: str = "shared",
        freeze_embeddings: bool = False,
        hops: int = 1,
        dropout: float = 0.0,
        bert_layers: int = 0,
        bert_heads: int = 12,
        bert_intermediate_size: int = 1536,
        bert_cache_size: int = 20000,
        cls_id: int = -1,
        sep_id: int = -1,
        **kwargs,
    ) -> None:
        if tables not in TABLES:
            raise ValueError(f"tables must be one of {TABLES}, got {tables!r}")
        if hops < 1:
            raise ValueError(f"hops must be >= 1, got {hops}")
        if num_classes < 2 or vocabulary_size < 3:
            raise ValueError("need num_classes >= 2 and vocabulary_size >= 3")

        if bert_layers and tables != "shared":
            raise ValueError("a BERT encoder is one table: use tables='shared' with bert_layers")

        def table(name: str) -> keras.layers.Layer:
            return token_encoder(vocabulary_size, embedding_dim, freeze_embeddings, name,
                                 bert_layers=bert_layers, bert_heads=bert_heads,
                           bert_intermediate_size=bert_intermediate_size,
                           bert_cache_size=bert_cache_size, cls_id=cls_id, sep_id=sep_id)

        memory_table = table("embedding")
        aspect_table = memory_table if tables == "shared" else table("aspect_embedding")
        output_table = memory_table if tables == "shared" else table("output_embedding")
        drop = keras.layers.Dropout(dropout, name="embedding_dropout")
        project = keras.layers.Dense(embedding_dim, use_bias=False, name="attention_projection")
        transform = keras.layers.Dense(embedding_dim, use_bias=False, name="hop_transform")
        attend = AttentionSoftmax(name="aspect_attention")  # one layer, called once per hop

        inputs = absa_inputs()
        ids, aspect_ids = inputs["sentence_ids"], inputs["aspect_ids"]
        context = ops.cast(inputs["context_mask"], "bool")
        memory = drop(embed(memory_table, ids))
        outputs = memory if tables == "shared" else drop(embed(output_table, ids))
        vector = masked_mean(drop(embed(aspect_table, aspect_ids)), ops.not_equal(aspect_ids, 0))
        attention = None
        for _ in range(hops):
            scores = ops.sum(memory * ops.expand_dims(project(vector), 1), axis=-1)
            attention = attend(scores, mask=context)
            read = ops.sum(ops.expand_dims(attention, -1) * outputs, axis=1)
            vector = read + transform(vector)
        probabilities = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(
            vector
        )
        super().__init__(inputs=inputs, outputs=probabilities, **kwargs)
        self._expose(attention)

        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.tables = tables
        self.freeze_embeddings = freeze_embeddings
        self.hops = hops
        self.dropout = dropout
        self.bert_layers = bert_layers
        self.bert_heads = bert_heads
        self.bert_intermediate_size = bert_intermediate_size
        self.bert_cache_size = bert_cache_size
        self.cls_id = cls_id
        self.sep_id = sep_id

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim,
            "tables": self.tables,
            "freeze_embeddings": self.freeze_embeddings,
            "hops": self.hops,
            "dropout": self.dropout,
            "bert_layers": self.bert_layers,
            "bert_heads": self.bert_heads,
            "bert_intermediate_size": self.bert_intermediate_size,
            "bert_cache_size": self.bert_cache_size,
            "cls_id": self.cls_id,
            "sep_id": self.sep_id,
        }

    @classmethod
    def from_config(cls, config: dict) -> MemNet:
        return cls(**config)
