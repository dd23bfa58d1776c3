"""The attention-based BiLSTM pair classifier of Moravvej et al. (plagiarism detection)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from attnkit.layers import AdditiveAttention, BidirectionalRNN
from attnkit.layers.bert_encoder import BertEncoder, SentenceEncoder
from attnkit.layers.export import register
from attnkit.layers.soft_alignment import SoftAlignment

INTERACTIONS = ("siamese", "cross")
ATTENTION_LAYER = "attention_head"
INPUTS = ("token_ids_a", "token_ids_b")
SENTENCE_LAYER = "sentence_encoder"
#: The optional input of per-pair lexical features (``lexical_features`` columns).
LEXICAL_INPUT = "pair_features"


def exact_match_feature(token_ids, other_ids):
    """(batch, time, 1): 1.0 where a token of ``token_ids`` occurs among ``other_ids``' real
    tokens (padding never matches)."""
    same = ops.equal(ops.expand_dims(token_ids, 2), ops.expand_dims(other_ids, 1))
    same = ops.logical_and(same, ops.expand_dims(ops.not_equal(other_ids, 0), 1))
    return ops.expand_dims(ops.cast(ops.any(same, axis=2), "float32"), -1)


def overlap_statistics(match_a, match_b, mask_a, mask_b):
    """(batch, 3): the share of a's tokens found in b, of b's tokens found in a, and the
    length ratio (shorter / longer) — the unigram overlap precision, recall and length
    features a classic pair classifier starts from."""
    length_a = ops.sum(ops.cast(mask_a, "float32"), axis=1, keepdims=True)
    length_b = ops.sum(ops.cast(mask_b, "float32"), axis=1, keepdims=True)
    share_a = ops.sum(match_a[..., 0], axis=1, keepdims=True) / ops.maximum(length_a, 1.0)
    share_b = ops.sum(match_b[..., 0], axis=1, keepdims=True) / ops.maximum(length_b, 1.0)
    ratio = ops.minimum(length_a, length_b) / ops.maximum(ops.maximum(length_a, length_b), 1.0)
    return ops.concatenate([share_a, share_b, ratio], axis=-1)


NGRAM_BASE = 2**20  # n-gram ids combine token ids below this (any word-piece vocabulary)
MAX_NGRAM = 3


def ngram_ids(token_ids, n: int):
    """(batch, time - n + 1) int64 ids of each run of ``n`` tokens, 0 where it touches padding
    (ids must be below ``NGRAM_BASE``; ``n`` up to ``MAX_NGRAM``)."""
    token_ids = ops.cast(token_ids, "int64")
    if n == 1:
        return token_ids
    combined = ops.zeros_like(token_ids[:, : 1 - n])
    real = ops.ones_like(combined, dtype="bool")
    for offset in range(n):
        part = token_ids[:, offset : offset + 1 - n or None]
        combined = combined * NGRAM_BASE + part
        real = ops.logical_and(real, ops.not_equal(part, 0))
    return ops.where(real, combined, ops.zeros_like(combined))


def ngram_overlap(ids_a, ids_b, n: int):
    """(batch, 2): the share of a's n-grams found in b and of b's n-grams found in a."""
    grams_a, grams_b = ngram_ids(ids_a, n), ngram_ids(ids_b, n)
    shares = []
    for grams, other in ((grams_a, grams_b), (grams_b, grams_a)):
        found = ops.sum(exact_match_feature(grams, other)[..., 0], axis=1, keepdims=True)
        count = ops.sum(ops.cast(ops.not_equal(grams, 0), "float32"), axis=1, keepdims=True)
        shares.append(found / ops.maximum(count, 1.0))
    return ops.concatenate(shares, axis=-1)


def mean_cosine(x_a, x_b, mask_a, mask_b):
    """(batch, 1): cosine similarity of the two texts' mean (unpadded) embeddings."""
    def mean(x, mask):
        x = ops.convert_to_tensor(x)
        weights = ops.cast(mask, x.dtype)[..., None]
        return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    mean_a, mean_b = mean(x_a, mask_a), mean(x_b, mask_b)
    norms = ops.norm(mean_a, axis=-1, keepdims=True) * ops.norm(mean_b, axis=-1, keepdims=True)
    return ops.sum(mean_a * mean_b, axis=-1, keepdims=True) / ops.maximum(norms, 1e-6)


@register
class AttentionPairClassifier(keras.Model):
    """Two texts -> shared embedding -> shared BiLSTM -> shared additive attention pooling ->
    ``[v_a; v_b; |v_a - v_b|; v_a * v_b]`` -> dense -> softmax (e.g. plagiarised or not).

    Paper-specified (Moravvej et al. 2023, structure from the abstract; spec §4.1): BERT
    word embeddings (frozen by default), attention-based LSTMs with shared weights, pooled
    vectors combined by concatenation, difference and product, a feed-forward head. The
    embeddings are either a token table (``bert_layers=0``: a checkpoint's input word
    embeddings, or trained from scratch) or contextual: the output of the first
    ``bert_layers`` transformer layers of a BERT checkpoint (:class:`BertEncoder`, layer
    ``"bert"``; a frozen one caches its outputs per distinct text).
    Library choices: ``exact_match`` appends to each token's embedding whether it occurs in
    the other text (a lexical-overlap signal, as in DrQA); ``overlap_features`` also gives
    the head the pair's unigram overlap shares and length ratio (see
    :func:`overlap_statistics`), and with ``overlap_ngrams = N`` the overlap shares of its
    2..N-grams too; ``embedding_similarity`` gives the head the cosine of the two texts' mean
    embeddings (with contextual BERT embeddings, the similarity sentence encoders such as
    all-MiniLM-L6-v2 are trained for); ``sentence_features`` runs the checkpoint as the
    sentence encoder it was trained to be (:class:`SentenceEncoder`, layer
    ``"sentence_encoder"``, always frozen and cached: ``sentence_layers`` layers, mean-pooled
    and L2-normalised to u and v) and gives the head Sentence-BERT's ``[|u - v|; u * v]`` and
    the cosine ``u . v``; ``lexical_features = F`` takes a third input, ``"pair_features"``
    (batch, F): the standardised word and character n-gram overlap features the text-pair
    preprocessor computes (see :mod:`attnkit.tasks.text_pairs.lexical_features`), added to the
    head's features; ``interaction="cross"`` adds the
    spec's alternative, soft alignment of each text over the other (ESIM-style
    ``[h; h~; h - h~; h * h~]`` composed by a dense layer) before pooling. The attention layer
    (named ``"attention_head"``, called once per text) exposes the logits hook, so the
    adversarial-attention strategies train this model too.

    Args:
        vocabulary_size: int. Number of token ids (id 0 is padding).
        num_classes: int. Output classes (>= 2).
        embedding_dim: int. Token embedding size (384 for all-MiniLM-L6-v2); with
            ``bert_layers`` the BERT hidden size.
        freeze_embeddings: bool. Keep the embeddings (the whole BERT encoder) fixed.
        bert_layers: int. 0 for a token table, else how many BERT layers to run.
        bert_heads: int. Attention heads of each BERT layer.
        bert_intermediate_size: int. Feed-forward width of each BERT layer.
        bert_cache_size: int. Texts a frozen BERT encoder remembers the output of.
        static_embeddings: bool. With ``bert_layers``, also give the encoder each token's
            input word-piece embedding (a frozen table filled from the same checkpoint) next to
            its contextual vector.
        cls_id, sep_id: int. The tokenizer's ``[CLS]``/``[SEP]`` ids (from the data; needed
            with ``bert_layers``).
        units: int. LSTM units per direction.
        attention_units: int. Hidden size of the additive attention scorer.
        interaction: ``"siamese"`` (pool each text on its own) or ``"cross"`` (align first).
        exact_match: bool. Add the exact-match feature to the embeddings.
        overlap_features: bool. Add the overlap statistics to the pair features.
        overlap_ngrams: int. With ``overlap_features``, also the overlap shares of 2..N-grams
            (1 = unigrams only; at most 3).
        embedding_similarity: bool. Add the cosine of the mean embeddings to the pair features.
        sentence_features: bool. Add ``[|u - v|; u * v; u . v]`` of a frozen sentence encoder
            (needs ``cls_id``/``sep_id``; the weights come from the checkpoint, see
            ``TextPairTask.initialize_model``).
        sentence_layers: int. Transformer layers of that encoder (all of the checkpoint's:
            6 for all-MiniLM-L6-v2; its hidden size is ``embedding_dim``, its heads and
            feed-forward width ``bert_heads`` and ``bert_intermediate_size``).
        lexical_features: int. Width of the ``"pair_features"`` input (0 = no such input; set
            from the preprocessor's ``lexical_features`` switch).
        hidden_units: int. Dense ReLU layer before the softmax (0 = none).
        dropout: float. Dropout after the embeddings, the encoder and on the pair features.

    Example:
        >>> model = AttentionPairClassifier(vocabulary_size=30, num_classes=2, embedding_dim=8,
        ...                                 units=4, attention_units=4, hidden_units=4)
        >>> inputs = {"token_ids_a": np.array([[3, 4, 0]]), "token_ids_b": np.array([[4, 5]])}
        >>> model.predict(inputs, verbose=0).shape
        (1, 2)
    """

    def __init__(
        self,
        vocabulary_size: int,
        num_classes: int,
        embedding_dim: int = 128,
        freeze_embeddings: bool = False,
        units: int = 128,
        attention_units: int = 128,
        interaction: str = "siamese",
        exact_match: bool = True,
        overlap_features: bool = False,
        overlap_ngrams: int = 1,
        embedding_similarity: bool = False,
        sentence_features: bool = False,
        sentence_layers: int = 6,
        lexical_features: int = 0,
        hidden_units: int = 64,
        dropout: float = 0.2,
        bert_layers: int = 0,
        bert_heads: int = 12,
        bert_intermediate_size: int = 1536,
        bert_cache_size: int = 20000,
        static_embeddings: bool = False,
        cls_id: int = -1,
        sep_id: int = -1,
        **kwargs,
    ) -> None:
        if bert_layers < 0:
            raise ValueError(f"bert_layers must be >= 0, got {bert_layers}")
        if static_embeddings and not bert_layers:
            raise ValueError("static_embeddings adds the word-piece table to BERT's contextual "
                             "vectors: it needs bert_layers > 0")
        if bert_layers and (cls_id < 0 or sep_id < 0):
            raise ValueError(
                "bert_layers needs a tokenizer with [CLS] and [SEP] tokens: set "
                "preprocess.pretrained to a BERT checkpoint"
            )
        if not isinstance(sentence_features, bool):
            raise ValueError(
                f"sentence_features must be true or false, got {sentence_features!r}"
            )
        if sentence_features and sentence_layers < 1:
            raise ValueError(f"sentence_layers must be >= 1, got {sentence_layers}")
        if sentence_features and (cls_id < 0 or sep_id < 0):
            raise ValueError(
                "sentence_features needs a tokenizer with [CLS] and [SEP] tokens: set "
                "preprocess.pretrained to a BERT checkpoint"
            )
        if isinstance(lexical_features, bool) or not isinstance(lexical_features, int) or (
            lexical_features < 0
        ):
            raise ValueError(f"lexical_features must be an int >= 0, got {lexical_features!r}")
        if not 1 <= overlap_ngrams <= MAX_NGRAM:
            raise ValueError(f"overlap_ngrams must be in [1, {MAX_NGRAM}], got {overlap_ngrams}")
        if interaction not in INTERACTIONS:
            raise ValueError(f"interaction must be one of {INTERACTIONS}, got {interaction!r}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if vocabulary_size < 3:
            raise ValueError(f"vocabulary_size must be >= 3, got {vocabulary_size}")

        # === Layers ===
        if bert_layers:
            embedding = BertEncoder(
                vocabulary_size, embedding_dim, bert_layers, bert_heads, bert_intermediate_size,
                cls_id=cls_id, sep_id=sep_id, cache_size=bert_cache_size, name="bert",
            )
            embedding.trainable = not freeze_embeddings
        else:
            embedding = keras.layers.Embedding(
                vocabulary_size, embedding_dim, trainable=not freeze_embeddings, name="embedding"
            )
        static = keras.layers.Embedding(vocabulary_size, embedding_dim, trainable=False,
                                        name="static_embedding") if static_embeddings else None
        embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        encoder = BidirectionalRNN(units, cell="lstm", name="encoder")
        encoder_dropout = keras.layers.Dropout(dropout, name="encoder_dropout")
        attention = AdditiveAttention(attention_units, name=ATTENTION_LAYER)

        # === Functional model ===
        ids = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in INPUTS}
        inputs = dict(ids)
        if lexical_features:
            inputs[LEXICAL_INPUT] = keras.Input(
                shape=(lexical_features,), dtype="float32", name=LEXICAL_INPUT
            )
        ids_a, ids_b = ids["token_ids_a"], ids["token_ids_b"]
        mask_a, mask_b = ops.not_equal(ids_a, 0), ops.not_equal(ids_b, 0)
        x_a, x_b = embedding(ids_a), embedding(ids_b)
        if static is not None:
            x_a = ops.concatenate([x_a, static(ids_a)], axis=-1)
            x_b = ops.concatenate([x_b, static(ids_b)], axis=-1)
        similarity = mean_cosine(x_a, x_b, mask_a, mask_b) if embedding_similarity else None
        match_a, match_b = exact_match_feature(ids_a, ids_b), exact_match_feature(ids_b, ids_a)
        if exact_match:
            x_a = ops.concatenate([x_a, match_a], axis=-1)
            x_b = ops.concatenate([x_b, match_b], axis=-1)
        h_a = encoder(embedding_dropout(x_a), mask=mask_a)
        h_b = encoder(embedding_dropout(x_b), mask=mask_b)
        if interaction == "cross":
            aligned_a, aligned_b = SoftAlignment(name="alignment")(
                h_a, h_b, mask_a=mask_a, mask_b=mask_b
            )
            compose = keras.layers.Dense(2 * units, activation="relu", name="composition")
            h_a = compose(ops.concatenate([h_a, aligned_a, h_a - aligned_a, h_a * aligned_a], -1))
            h_b = compose(ops.concatenate([h_b, aligned_b, h_b - aligned_b, h_b * aligned_b], -1))
        v_a, weights_a = attention(encoder_dropout(h_a), mask=mask_a)
        v_b, weights_b = attention(encoder_dropout(h_b), mask=mask_b)
        features = ops.concatenate([v_a, v_b, ops.abs(v_a - v_b), v_a * v_b], axis=-1)
        if sentence_features:
            sentence = SentenceEncoder(
                vocabulary_size, embedding_dim, sentence_layers, bert_heads,
                bert_intermediate_size, cls_id=cls_id, sep_id=sep_id,
                cache_size=bert_cache_size, name=SENTENCE_LAYER,
            )
            sentence.trainable = False
            u, v = sentence(ids_a), sentence(ids_b)
            features = ops.concatenate([features, ops.abs(u - v), u * v], axis=-1)
        features = keras.layers.Dropout(dropout, name="head_dropout")(features)
        if overlap_features:
            overlap = [overlap_statistics(match_a, match_b, mask_a, mask_b)]
            overlap += [ngram_overlap(ids_a, ids_b, n) for n in range(2, overlap_ngrams + 1)]
            features = ops.concatenate([features, *overlap], axis=-1)
        if lexical_features:
            features = ops.concatenate([features, inputs[LEXICAL_INPUT]], axis=-1)
        if similarity is not None:
            features = ops.concatenate([features, similarity], axis=-1)
        if sentence_features:  # u and v are unit vectors: their dot product is the cosine
            features = ops.concatenate([features, ops.sum(u * v, axis=-1, keepdims=True)], -1)
        if hidden_units:
            features = keras.layers.Dense(hidden_units, activation="relu", name="hidden")(features)
        probabilities = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(
            features
        )
        super().__init__(inputs=inputs, outputs=probabilities, **kwargs)
        # Kept outside the saved graph: the inputs of `attention_model`.
        self._attention_outputs = (weights_a, weights_b)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.freeze_embeddings = freeze_embeddings
        self.units = units
        self.attention_units = attention_units
        self.interaction = interaction
        self.exact_match = exact_match
        self.overlap_features = overlap_features
        self.overlap_ngrams = overlap_ngrams
        self.embedding_similarity = embedding_similarity
        self.sentence_features = sentence_features
        self.sentence_layers = sentence_layers
        self.lexical_features = lexical_features
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.bert_layers = bert_layers
        self.bert_heads = bert_heads
        self.bert_intermediate_size = bert_intermediate_size
        self.bert_cache_size = bert_cache_size
        self.static_embeddings = static_embeddings
        self.cls_id = cls_id
        self.sep_id = sep_id

    @property
    def attention_layer(self) -> keras.layers.Layer:
        return self.get_layer(ATTENTION_LAYER)

    def attention_model(self) -> keras.Model:
        """A model from the same inputs to the attention weights of text a and text b."""
        return keras.Model(self.input, list(self._attention_outputs))

    def pair_attention(self, inputs: dict, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Per-token attention weights of each text (batch, time), zero on padding."""
        weights_a, weights_b = self.attention_model().predict(inputs, batch_size=batch_size, verbose=0)
        return weights_a, weights_b

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim,
            "freeze_embeddings": self.freeze_embeddings,
            "units": self.units,
            "attention_units": self.attention_units,
            "interaction": self.interaction,
            "exact_match": self.exact_match,
            "overlap_features": self.overlap_features,
            "overlap_ngrams": self.overlap_ngrams,
            "embedding_similarity": self.embedding_similarity,
            "sentence_features": self.sentence_features,
            "sentence_layers": self.sentence_layers,
            "lexical_features": self.lexical_features,
            "hidden_units": self.hidden_units,
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
    def from_config(cls, config: dict) -> AttentionPairClassifier:
        return cls(**config)
