"""Per-field linear projections of a shared embedding (TWIN with projection)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from attnkit.layers.export import register
from attnkit.recsys.initializers import initializer


@register
class FieldProjection(keras.layers.Layer):
    """One bias-free ``d_f x d_f`` map per field (item, category, time) of a shared table.

    Paper-specified (DARE paper's "TWIN (w/ proj.)" baseline; the code's ``projection``
    model as its script runs it: a separate linear map per field and per role, query,
    key, value and target representation). Applying it to a weighted sum of vectors equals
    the weighted sum of the projected vectors, which the models use to project after
    aggregation.

    Args:
        dims: sequence of int. Field widths.
        init, l2: as in :class:`attnkit.recsys.ctr_tower.CTRTower`.

    Example:
        >>> projection = FieldProjection([2, 3])
        >>> [tuple(x.shape) for x in projection([keras.ops.ones((4, 2)), keras.ops.ones((4, 3))])]
        [(4, 2), (4, 3)]
    """

    def __init__(self, dims: Sequence[int], init: str = "official", l2: float = 1e-6,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.dims = [int(dim) for dim in dims]
        self.init = init
        self.l2 = l2
        self.build()

    def build(self, input_shape=None) -> None:
        if getattr(self, "kernels", None) is not None:
            return
        regularizer = keras.regularizers.L2(self.l2) if self.l2 > 0 else None
        self.kernels = [
            self.add_weight(name=f"kernel_{index}", shape=(dim, dim),
                            initializer=initializer(self.init, "kernel"), regularizer=regularizer)
            for index, dim in enumerate(self.dims)
        ]
        self.built = True

    def call(self, fields):
        return [ops.matmul(field, kernel) for field, kernel in zip(fields, self.kernels, strict=True)]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"dims": self.dims, "init": self.init, "l2": self.l2})
        return config
