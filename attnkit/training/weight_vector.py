"""A model's trainable weights as one flat vector, for population-based optimisers.

Only trainable variables take part: frozen ones (e.g. pretrained BERT embeddings) are never
read or written. ``layers`` narrows the vector to some layers (e.g. only the attention and
classifier of a large model).

Example:
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="out")])
    >>> weights = WeightVector(model)
    >>> weights.size, weights.get().dtype
    (8, dtype('float32'))
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from attnkit.errors import ConfigError


class WeightVector:
    """Read and write the trainable variables of ``model`` (or of ``layers``) as one vector."""

    def __init__(self, model: keras.Model, layers: Sequence[str] = ()) -> None:
        if layers:
            variables = []
            for name in layers:
                try:
                    layer = model.get_layer(name)
                except ValueError:
                    known = ", ".join(layer.name for layer in model.layers)
                    raise ConfigError(
                        f"model {model.name!r} has no layer {name!r}; its layers: {known}"
                    ) from None
                variables.extend(layer.trainable_weights)
        else:
            variables = list(model.trainable_weights)
        unique: dict[int, keras.Variable] = {}
        for variable in variables:
            unique.setdefault(id(variable), variable)
        self.variables = list(unique.values())
        if not self.variables:
            where = f"layers {list(layers)}" if layers else f"model {model.name!r}"
            raise ConfigError(f"{where} has no trainable weights to optimise")
        self.shapes = [tuple(variable.shape) for variable in self.variables]
        self.sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.offsets = np.cumsum([0, *self.sizes])
        self.size = int(self.offsets[-1])

    def get(self) -> np.ndarray:
        """The current values, concatenated (float32)."""
        return np.concatenate(
            [keras.ops.convert_to_numpy(v).reshape(-1).astype(np.float32) for v in self.variables]
        )

    def set(self, vector: np.ndarray) -> None:
        """Assign ``vector`` (length ``size``) back to the variables."""
        vector = np.asarray(vector)
        if vector.shape != (self.size,):
            raise ValueError(f"expected a vector of {self.size} values, got shape {vector.shape}")
        for variable, shape, start, stop in zip(
            self.variables, self.shapes, self.offsets[:-1], self.offsets[1:], strict=True
        ):
            variable.assign(vector[start:stop].reshape(shape).astype(variable.dtype))

    def segments(self) -> list[slice]:
        """The slice of the vector each variable occupies."""
        return [slice(int(a), int(b)) for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)]
