"""Reusable Keras layers: the attention zoo (one class per file), all masked and saveable."""

from attnkit.layers.additive_attention import AdditiveAttention
from attnkit.layers.bidirectional_rnn import BidirectionalRNN
from attnkit.layers.global_context_attention import GlobalContextAttention
from attnkit.layers.low_rank_multihead_attention import LowRankMultiHeadAttention
from attnkit.layers.masked_mean_pooling import MaskedMeanPooling
from attnkit.layers.masking import masked_mean, masked_softmax
from attnkit.layers.multihead_self_attention import MultiHeadSelfAttention

__all__ = [
    "AdditiveAttention",
    "BidirectionalRNN",
    "GlobalContextAttention",
    "LowRankMultiHeadAttention",
    "MaskedMeanPooling",
    "MultiHeadSelfAttention",
    "masked_mean",
    "masked_softmax",
]
