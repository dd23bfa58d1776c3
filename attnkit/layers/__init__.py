"""Reusable Keras layers: the attention zoo (one class per file), all masked and saveable."""

from attnkit.layers.additive_attention import AdditiveAttention
from attnkit.layers.attention_softmax import AttentionSoftmax
from attnkit.layers.bert_encoder import BertEncoder, SentenceEncoder
from attnkit.layers.bidirectional_rnn import BidirectionalRNN
from attnkit.layers.global_context_attention import GlobalContextAttention
from attnkit.layers.low_rank_multihead_attention import LowRankMultiHeadAttention
from attnkit.layers.masked_mean_pooling import MaskedMeanPooling
from attnkit.layers.masking import masked_mean, masked_softmax
from attnkit.layers.multihead_self_attention import MultiHeadSelfAttention
from attnkit.layers.soft_alignment import SoftAlignment

__all__ = [
    "AdditiveAttention",
    "AttentionSoftmax",
    "BertEncoder",
    "BidirectionalRNN",
    "GlobalContextAttention",
    "LowRankMultiHeadAttention",
    "MaskedMeanPooling",
    "MultiHeadSelfAttention",
    "SentenceEncoder",
    "SoftAlignment",
    "masked_mean",
    "masked_softmax",
]
