"""Two-stage target attention over a long behaviour sequence: search the top K, aggregate them.

Example:
    >>> from keras import ops
    >>> scores = ops.convert_to_tensor([[3.0, 1.0, 2.0, 0.0]])
    >>> mask = ops.convert_to_tensor([[True, True, False, False]])
    >>> weights, positions = top_k_weights(scores, mask, k=3)
    >>> [round(float(w), 3) for w in ops.convert_to_numpy(weights)[0]]
    [0.881, 0.119, 0.0]
"""

from __future__ import annotations

import torch
from keras import ops

#: The score given to padding before the softmax (finite, so an all-padding row stays finite).
MASKED_SCORE = -1e9


def masked_softmax_weights(scores, mask):
    """Softmax over the valid positions of each row; all-padding rows get all-zero weights."""
    valid = ops.cast(mask, scores.dtype)
    return ops.softmax(ops.where(mask, scores, MASKED_SCORE), axis=-1) * valid


def top_k_weights(scores, mask, k: int):
    """Stage one and the stage-two weights: keep the ``k`` best-scoring valid behaviours.

    Returns ``(weights, positions)``, both (batch, k): the softmax over the retrieved scores
    and their positions in the sequence. Padding is never retrieved before a valid
    behaviour (its score is -inf), and retrieved padding gets weight 0, so a row with
    fewer than ``k`` valid behaviours attends over those only (K = min(K, valid)); a row
    with none gets all-zero weights.
    """
    searched = ops.where(mask, scores, float("-inf"))
    best, positions = ops.top_k(searched, k, sorted=True)
    valid = ops.take_along_axis(mask, positions, axis=1)
    return masked_softmax_weights(best, valid), positions


def weighted_sum(weights, values):
    """(batch, n) weights x (batch, n, d) or (n, d) values -> (batch, d)."""
    if len(values.shape) == 2:
        return ops.matmul(weights, values)
    return ops.sum(weights[:, :, None] * values, axis=1)


#: Score through the whole table when it has at most this many rows per history slot.
TABLE_ROWS_PER_SLOT = 8


def use_whole_table(rows: int, length: int) -> bool:
    """Whether scoring ``length`` behaviours is cheaper through the whole ``rows``-row table
    (one (batch, rows) product) than by gathering (batch, length, dim) vectors."""
    return rows <= TABLE_ROWS_PER_SLOT * length


def field_scores(table, ids, query):
    """``<table[ids[b, j]], query[b]>`` for every behaviour: (batch, n).

    With a small table relative to the history (:func:`use_whole_table`) this is the
    product of the query with the whole table, then a gather of scalars, so no
    (batch, n, dim) tensor is ever built; otherwise the vectors are gathered.
    """
    ids = ops.convert_to_tensor(ids).long()
    if use_whole_table(table.shape[0], ids.shape[1]):
        return torch.gather(ops.matmul(query, ops.transpose(table)), 1, ids)
    vectors = torch.index_select(ops.convert_to_tensor(table), 0, ids.reshape(-1))
    vectors = vectors.reshape(*ids.shape, vectors.shape[-1])
    return ops.sum(vectors * query[:, None, :], axis=-1)


def field_sum(table, ids, weights):
    """``sum_j weights[b, j] * table[ids[b, j]]``: (batch, dim), through a (batch, rows)
    weight histogram for small tables (see :func:`field_scores`)."""
    ids = ops.convert_to_tensor(ids).long()
    if use_whole_table(table.shape[0], ids.shape[1]):
        histogram = torch.zeros(ids.shape[0], table.shape[0], dtype=weights.dtype,
                                device=weights.device).scatter_add(1, ids, weights)
        return ops.matmul(histogram, table)
    vectors = torch.index_select(ops.convert_to_tensor(table), 0, ids.reshape(-1))
    return weighted_sum(weights, vectors.reshape(*ids.shape, vectors.shape[-1]))
