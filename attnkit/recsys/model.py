"""DARE, TWIN and DIN: long-behaviour-sequence CTR models with search-then-attend target attention."""

from __future__ import annotations

import math

import keras
from keras import ops

from attnkit.layers.export import register
from attnkit.recsys.behaviour_embedding import BehaviourEmbedding
from attnkit.recsys.ctr_tower import CTRTower
from attnkit.recsys.din_attention import DINAttentionScorer
from attnkit.recsys.field_projection import FieldProjection
from attnkit.recsys.initializers import INITS
from attnkit.recsys.retrieval import (
    field_scores,
    field_sum,
    masked_softmax_weights,
    top_k_weights,
    weighted_sum,
)

VARIANTS = ("dare", "twin", "din")
INPUTS = ("history_items", "history_categories", "item", "category")


def two_class_cross_entropy(labels, logits):
    """Mean ``-log softmax(logits)[label]`` for 0/1 labels and (batch, 2) logits."""
    log_p = ops.log_softmax(logits, axis=-1)
    labels = ops.cast(ops.reshape(labels, (-1,)), log_p.dtype)
    return -ops.mean(labels * log_p[:, 1] + (1.0 - labels) * log_p[:, 0])


@register
class LongSequenceCTR(keras.Model):
    """Click probability of a target item given a user's behaviour sequence.

    Inputs (dict of int tensors): ``history_items`` and ``history_categories`` (batch, n),
    left-padded with 0, most recent last; ``item`` and ``category`` (batch,) of the target.
    Output: (batch,) click probabilities.

    Paper-specified (Feng et al., ICLR 2025, and the official code, spec §3):

    - ``variant="dare"``: two embedding tables, attention (target = query, behaviours = keys)
      and representation (values and the target's own vector), whose widths may differ
      (``attention_*_dim``; 0 = the representation width).
    - ``variant="twin"``: one shared table; ``projection=True`` adds per-field linear maps
      for query, key, value and target ("TWIN w/ proj.").
    - ``variant="din"``: one table, DIN's learnable attention scorer (no time features in
      the official configuration: ``use_time=False``).
    - Stage one scores every behaviour, ``<q_sem, k_sem>/sqrt(d_sem) + <q_t, k_t>/sqrt(d_t)``
      for the dot-product variants, and keeps the ``top_k`` best; stage two is the softmax
      over those scores and the weighted sum of their representation vectors, h. The
      tower gets ``[v_t, h, v_t * h]`` (``cross_feature``; without it ``[v_t, h]``).
    - ``auxiliary_loss``: while training, a second tower scores the soft attention over the
      *whole* sequence, and its two-class cross-entropy is added to the loss, so every
      behaviour's attention vector gets a gradient.
    - L2 ``l2 * sum(w^2)`` over non-embedding, non-bias weights; ``init="official"`` draws
      every non-bias weight from N(0, 0.01) (see :mod:`attnkit.recsys.initializers`).

    Library choices: fewer than ``top_k`` valid behaviours are handled (padding gets -inf
    before the search and weight 0 after it; an empty history gives h = 0); BatchNorm uses
    its moving statistics at inference unless ``batch_stats_at_inference`` (the official
    code's behaviour, which makes a score depend on the rest of its batch); ``top_k=0``
    attends over the whole sequence (plain DIN/target attention). The two-class softmax of
    the official code is kept (its click probability is the output).

    Args:
        num_items, num_categories: int. Id-table sizes (0 = padding; from the data).
        max_length: int. Longest history N (from the data).
        variant: ``"dare"``, ``"twin"`` or ``"din"``.
        item_dim, category_dim, time_dim: int. Representation widths (the shared table's).
        attention_item_dim, attention_category_dim, attention_time_dim: int. DARE's
            attention-table widths (0 = same as the representation).
        use_time: bool. Add the relative-position field.
        projection: bool. TWIN with projections.
        top_k: int. Behaviours kept by the search (0 = all).
        cross_feature: bool. Add ``v_t * h`` to the tower input.
        auxiliary_loss: bool. Train with the full-sequence auxiliary loss.
        hidden_1, hidden_2, auxiliary_hidden: int. Tower widths.
        din_units: int. Hidden width of the DIN scorer.
        l2: float. L2 coefficient.
        init: ``"official"`` or ``"standard"``.
        batchnorm_momentum: float. Keras momentum of BatchNorm's moving statistics.
        batch_stats_at_inference: bool. Normalise with batch statistics at inference.

    Example:
        >>> model = LongSequenceCTR(50, 5, max_length=8, item_dim=4, category_dim=4, time_dim=4)
        >>> batch = {"history_items": keras.ops.ones((3, 8), "int64"),
        ...          "history_categories": keras.ops.ones((3, 8), "int64"),
        ...          "item": keras.ops.ones((3,), "int64"), "category": keras.ops.ones((3,), "int64")}
        >>> tuple(model(batch).shape)
        (3,)
    """

    def __init__(
        self,
        num_items: int,
        num_categories: int,
        max_length: int,
        variant: str = "dare",
        item_dim: int = 16,
        category_dim: int = 16,
        time_dim: int = 16,
        attention_item_dim: int = 0,
        attention_category_dim: int = 0,
        attention_time_dim: int = 0,
        use_time: bool = True,
        projection: bool = False,
        top_k: int = 20,
        cross_feature: bool = True,
        auxiliary_loss: bool = True,
        hidden_1: int = 200,
        hidden_2: int = 80,
        auxiliary_hidden: int = 200,
        din_units: int = 36,
        l2: float = 1e-6,
        init: str = "official",
        batchnorm_momentum: float = 0.9,
        batch_stats_at_inference: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        attention_dims = (attention_item_dim, attention_category_dim, attention_time_dim)
        if variant != "dare" and any(attention_dims):
            raise ValueError("attention_*_dim set a separate attention table: only for variant='dare'")
        if projection and variant != "twin":
            raise ValueError("projection=True is TWIN with projections: only for variant='twin'")
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k}")
        self.num_items = num_items
        self.num_categories = num_categories
        self.max_length = max_length
        self.variant = variant
        self.item_dim = item_dim
        self.category_dim = category_dim
        self.time_dim = time_dim
        self.attention_item_dim = attention_item_dim
        self.attention_category_dim = attention_category_dim
        self.attention_time_dim = attention_time_dim
        self.use_time = use_time
        self.projection = projection
        self.top_k = top_k
        self.cross_feature = cross_feature
        self.auxiliary_loss = auxiliary_loss
        self.hidden_1 = hidden_1
        self.hidden_2 = hidden_2
        self.auxiliary_hidden = auxiliary_hidden
        self.din_units = din_units
        self.l2 = l2
        self.init = init
        self.batchnorm_momentum = batchnorm_momentum
        self.batch_stats_at_inference = batch_stats_at_inference

        # === Layers ===
        times = time_dim if use_time else 0
        self.representation = BehaviourEmbedding(
            num_items, num_categories, item_dim, category_dim, times, max_length, init,
            name="representation_embedding",
        )
        self.attention = self.representation
        if variant == "dare":
            self.attention = BehaviourEmbedding(
                num_items, num_categories, attention_item_dim or item_dim,
                attention_category_dim or category_dim,
                (attention_time_dim or time_dim) if use_time else 0, max_length, init,
                name="attention_embedding",
            )
        fields = [self.representation.item_dim, self.representation.category_dim]
        fields += [times] if times else []
        if projection:
            self.projections = {role: FieldProjection(fields, init, l2, name=f"{role}_projection")
                                for role in ("query", "key", "value", "target")}
        self.scorer = None
        if variant == "din":
            self.scorer = DINAttentionScorer(self.attention.dim, din_units, init, l2,
                                             name="din_attention")
        width = self.representation.dim * (3 if cross_feature else 2)
        self.tower = CTRTower(width, (hidden_1, hidden_2), init, l2, batchnorm_momentum,
                              name="tower")
        self.auxiliary_tower = None
        if auxiliary_loss:
            self.auxiliary_tower = CTRTower(width, (auxiliary_hidden,), init, l2,
                                            batchnorm_momentum, name="auxiliary_tower")
        self._auxiliary_logits = None
        self.built = True

    def build(self, input_shape=None) -> None:  # every weight exists after __init__
        self.built = True

    # --- pieces ---------------------------------------------------------------------
    def _project(self, role: str, fields: list) -> list:
        return self.projections[role](fields) if self.projection else fields

    def _query_fields(self, inputs):
        """The target's attention fields (batch, d_f); the time field is (d_t,)."""
        table = self.attention
        query = [table.items(inputs["item"]), table.categories(inputs["category"])]
        if table.time_dim:
            query.append(table.target_time())
        return query

    def _scores(self, inputs, length: int):
        """Stage-one scores (batch, n) of every behaviour."""
        table = self.attention
        query = self._project("query", self._query_fields(inputs))
        items, categories = inputs["history_items"], inputs["history_categories"]
        if self.scorer is not None:  # DIN: an MLP per behaviour needs the key vectors
            batch = ops.shape(query[0])[0]
            target = query[:2]
            behaviours = [table.items(items), table.categories(categories)]
            if table.time_dim:
                target.append(ops.broadcast_to(query[2], (batch, table.time_dim)))
                behaviours.append(ops.broadcast_to(table.sequence_times(length),
                                                   (batch, length, table.time_dim)))
            return self.scorer(ops.concatenate(target, axis=-1),
                               ops.concatenate(behaviours, axis=-1))
        if self.projection:  # <q W_q, e W_k> = <q W_q W_k^T, e>: project the query only
            kernels = self.projections["key"].kernels
            query = [ops.matmul(q, ops.transpose(k)) for q, k in zip(query, kernels, strict=True)]
        scale = 1.0 / math.sqrt(table.item_dim + table.category_dim)  # on the query: cheaper
        scores = (field_scores(table.item_table, items, query[0] * scale)
                  + field_scores(table.category_table, categories, query[1] * scale))
        if table.time_dim:
            times = ops.matmul(table.sequence_times(length), query[2] / math.sqrt(table.time_dim))
            scores = scores + times[None, :]
        return scores

    def _target_vector(self, inputs):
        table = self.representation
        fields = [table.items(inputs["item"]), table.categories(inputs["category"])]
        if table.time_dim:
            batch = ops.shape(fields[0])[0]
            fields.append(ops.broadcast_to(table.target_time(), (batch, table.time_dim)))
        return ops.concatenate(self._project("target", fields), axis=-1)

    def _aggregate(self, inputs, weights, positions, length: int):
        """h = sum_i w_i e_i^Repr over the retrieved positions (all when ``positions`` is None)."""
        table = self.representation
        items, categories = inputs["history_items"], inputs["history_categories"]
        if positions is None:
            summed = [field_sum(table.item_table, items, weights),
                      field_sum(table.category_table, categories, weights)]
            if table.time_dim:
                summed.append(weighted_sum(weights, table.sequence_times(length)))
        else:
            values = [
                table.items(ops.take_along_axis(items, positions, axis=1)),
                table.categories(ops.take_along_axis(categories, positions, axis=1)),
            ]
            if table.time_dim:
                values.append(ops.take(table.sequence_times(length), positions, axis=0))
            summed = [weighted_sum(weights, value) for value in values]
        return ops.concatenate(self._project("value", summed), axis=-1)

    def _features(self, target, history):
        parts = [target, history, target * history] if self.cross_feature else [target, history]
        return ops.concatenate(parts, axis=-1)

    # --- the model ------------------------------------------------------------------
    def search(self, inputs):
        """Stage one only: (batch, k) positions of the retrieved behaviours and their
        stage-two weights (k = min(top_k, n); 0 = all)."""
        length = inputs["history_items"].shape[1]
        mask = ops.not_equal(inputs["history_items"], 0)
        scores = self._scores(inputs, length)
        k = self.top_k if 0 < self.top_k < length else length
        weights, positions = top_k_weights(scores, mask, k)
        return positions, weights

    def call(self, inputs, training: bool = False):
        length = inputs["history_items"].shape[1]
        mask = ops.not_equal(inputs["history_items"], 0)
        scores = self._scores(inputs, length)
        target = self._target_vector(inputs)
        if 0 < self.top_k < length:
            weights, positions = top_k_weights(scores, mask, self.top_k)
            history = self._aggregate(inputs, weights, positions, length)
        else:
            history = self._aggregate(inputs, masked_softmax_weights(scores, mask), None, length)
        logits = self.tower(self._features(target, history), training=training,
                            batch_statistics=self.batch_stats_at_inference)
        if training and self.auxiliary_tower is not None:
            full = self._aggregate(inputs, masked_softmax_weights(scores, mask), None, length)
            self._auxiliary_logits = self.auxiliary_tower(
                self._features(target, full), training=True)
        return ops.softmax(logits, axis=-1)[:, 1]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss plus, after a training forward pass, the auxiliary loss."""
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                    training=training)
        auxiliary, self._auxiliary_logits = self._auxiliary_logits, None
        if training and auxiliary is not None and y is not None:
            loss = loss + two_class_cross_entropy(y, auxiliary)
        return loss

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_items": self.num_items,
            "num_categories": self.num_categories,
            "max_length": self.max_length,
            "variant": self.variant,
            "item_dim": self.item_dim,
            "category_dim": self.category_dim,
            "time_dim": self.time_dim,
            "attention_item_dim": self.attention_item_dim,
            "attention_category_dim": self.attention_category_dim,
            "attention_time_dim": self.attention_time_dim,
            "use_time": self.use_time,
            "projection": self.projection,
            "top_k": self.top_k,
            "cross_feature": self.cross_feature,
            "auxiliary_loss": self.auxiliary_loss,
            "hidden_1": self.hidden_1,
            "hidden_2": self.hidden_2,
            "auxiliary_hidden": self.auxiliary_hidden,
            "din_units": self.din_units,
            "l2": self.l2,
            "init": self.init,
            "batchnorm_momentum": self.batchnorm_momentum,
            "batch_stats_at_inference": self.batch_stats_at_inference,
        }

    @classmethod
    def from_config(cls, config: dict) -> LongSequenceCTR:
        return cls(**config)
