"""TNet-ATT: TNet (Li et al. 2018) with its CNN replaced by aspect attention (spec §5)."""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers import BidirectionalRNN
from attnkit.layers.attention_softmax import AttentionSoftmax
from attnkit.layers.export import register
from attnkit.tasks.absa.aspect_positions import AspectPositions
from attnkit.tasks.absa.aspect_query import AspectQuery
from attnkit.tasks.absa.context_preserving import ContextPreservingTransformation
from attnkit.tasks.absa.inputs import AttentionExposingModel, absa_inputs, embed, token_encoder


@register
class TNetATT(AttentionExposingModel):
    """Sentence and aspect BiLSTMs, CPT-AS applied twice with shared weights (each time
    scaled by the position weights), then attention of the aspect query over the context.

    Paper/code-specified: separate sentence and aspect BiLSTMs (50 units per direction),
    dropout 0.3 on the embeddings and the feature, CPT-AS twice with one set of weights,
    position weights ``1 - d/40``, query ``[last forward; first backward]`` of the aspect
    BiLSTM, ``alpha = softmax(H q)`` over the context, a softmax layer on ``sum alpha H``.
    Library choices: the BiLSTMs are torch's fused LSTM (sigmoid gates, not hard_sigmoid; pads
    are skipped, not run through), the aspect tokens are not part of the attended context
    (the context mask), and id 0 embeds as the zero vector.

    Args:
        vocabulary_size: int. Token ids (0 = padding).
        num_classes: int. Polarities.
        embedding_dim: int. Embedding size (384 for all-MiniLM-L6-v2).
        freeze_embeddings: bool. Keep the embedding table fixed (TNet does).
        units: int. LSTM units per direction.
        position_limit: float. Distance C of the position weights (40).
        dropout: float. Dropout on the embeddings and the attended feature.
        bert_layers: int. 0: a token table; N: the first N layers of a BERT checkpoint give
            contextual embeddings (``preprocess.pretrained`` names it; frozen ones are cached).
        bert_heads, bert_intermediate_size: int. The BERT layers' shape (MiniLM: 12, 1536).
        bert_cache_size: int. Sequences a frozen BERT encoder remembers.
        static_embeddings: bool. With ``bert_layers``, also give the BiLSTMs each token's
            input word-piece embedding (a frozen table filled from the same checkpoint) next
            to its contextual vector: a context-free view of the word, the kind of input PSS
            was designed for (ELMo-style layer 0 + layer N).
        cls_id, sep_id: int. The tokenizer's ``[CLS]``/``[SEP]`` ids (from the data).

    Example:
        >>> import numpy as np
        >>> model = TNetATT(vocabulary_size=20, num_classes=3, embedding_dim=8, units=4)
        >>> x = {"sentence_ids": np.array([[3, 4, 5]]), "aspect_ids": np.array([[4]]),
        ...      "context_mask": np.array([[1, 0, 1]]), "positions": np.array([[1, 1, 3]]),
        ...      "row": np.array([0])}
        >>> tuple(model.with_attention(x)[1].shape)
        (1, 3)
    """

    def __init__(
        self,
        vocabulary_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        freeze_embeddings: bool = True,
        units: int = 50,
        position_limit: float = 40.0,
        dropout: float = 0.3,
        bert_layers: int = 0,
        bert_heads: int = 12,
        bert_intermediate_size: int = 1536,
        bert_cache_size: int = 20000,
        static_embeddings: bool = False,
        cls_id: int = -1,
        sep_id: int = -1,
        **kwargs,
    ) -> None:
        if num_classes < 2 or vocabulary_size < 3:
            raise ValueError("need num_classes >= 2 and vocabulary_size >= 3")
        if static_embeddings and not bert_layers:
            raise ValueError("static_embeddings adds the word-piece table to BERT's contextual "
                             "vectors: it needs bert_layers > 0")
        table = token_encoder(vocabulary_size, embedding_dim, freeze_embeddings, "embedding",
                              bert_layers=bert_layers, bert_heads=bert_heads,
                           bert_intermediate_size=bert_intermediate_size,
                           bert_cache_size=bert_cache_size, cls_id=cls_id, sep_id=sep_id)
        static = keras.layers.Embedding(vocabulary_size, embedding_dim, trainable=False,
                                        name="static_embedding") if static_embeddings else None

        def vectors(token_ids):
            contextual = embed(table, token_ids)
            if static is None:
                return contextual
            return ops.concatenate([contextual, embed(static, token_ids)], axis=-1)

        drop = keras.layers.Dropout(dropout, name="embedding_dropout")
        sentence_encoder = BidirectionalRNN(units, cell="lstm", name="sentence_encoder")
        aspect_encoder = BidirectionalRNN(units, cell="lstm", name="aspect_encoder")
        cpt = ContextPreservingTransformation(2 * units, name="cpt")

        inputs = absa_inputs()
        ids, aspect_ids = inputs["sentence_ids"], inputs["aspect_ids"]
        sentence_mask, weights = AspectPositions(position_limit, name="position_weights")(
            ids, inputs["positions"]
        )
        aspect_mask = ops.not_equal(aspect_ids, 0)
        states = sentence_encoder(drop(vectors(ids)), mask=sentence_mask)
        aspect_states = aspect_encoder(drop(vectors(aspect_ids)), mask=aspect_mask)
        for _ in range(2):  # the same CPT layer twice: shared weights
            states = cpt(states, aspect_states, aspect_mask, weights)
        query = AspectQuery(name="aspect_query")(aspect_states, aspect_mask)
        scores = ops.sum(states * ops.expand_dims(query, 1), axis=-1)
        attention = AttentionSoftmax(name="aspect_attention")(
            scores, mask=ops.cast(inputs["context_mask"], "bool")
        )
        feature = ops.sum(ops.expand_dims(attention, -1) * states, axis=1)
        feature = keras.layers.Dropout(dropout, name="feature_dropout")(feature)
        probabilities = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(
            feature
        )
        super().__init__(inputs=inputs, outputs=probabilities, **kwargs)
        self._expose(attention)

        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.freeze_embeddings = freeze_embeddings
        self.units = units
        self.position_limit = position_limit
        self.dropout = dropout
        self.bert_layers = bert_layers
        self.bert_heads = bert_heads
        self.bert_intermediate_size = bert_intermediate_size
        self.bert_cache_size = bert_cache_size
        self.static_embeddings = static_embeddings
        self.cls_id = cls_id
        self.sep_id = sep_id

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim,
            "freeze_embeddings": self.freeze_embeddings,
            "units": self.units,
            "position_limit": self.position_limit,
            "dropout": self.dropout,
            "bert_layers": self.bert_layers,
            "bert_heads": self.bert_heads,
            "bert_intermediate_size": self.bert_intermediate_size,
            "bert_cache_size": self.bert_cache_size,
            "static_embeddings": self.static_embeddings,
            "cls_id": self.cls_id,
            "sep_id": self.sep_id,
        }

    @classmethod
    def from_config(cls, config: dict) -> TNetATT:
        return cls(**config)
