"""A masked bidirectional LSTM/GRU that runs torch's fused RNN kernels."""

from __future__ import annotations

import keras
import torch
from keras import ops
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from attnkit.layers.export import register

_GATES = {"lstm": 4, "gru": 3}


@register
class BidirectionalRNN(keras.layers.Layer):
    """Masked bidirectional LSTM or GRU encoder returning the full sequence (dim 2*units).

    Library choice: Keras 3.15 runs recurrent layers on CPU as a Python loop over time
    steps (cuDNN only on CUDA). This layer keeps its weights as Keras variables (so it
    saves, loads and trains like any layer) but calls torch's fused ``aten.lstm``/``aten.gru``
    kernels on packed sequences, on CPU and GPU alike: padding is skipped (never computed,
    never leaking into real positions) and outputs at padded positions are zero. GRU uses the ``reset_after`` (cuDNN/torch) formulation.

    Args:
        units: int. Hidden size per direction.
        cell: ``"lstm"`` or ``"gru"``.

    Example:
        >>> out = BidirectionalRNN(units=3, cell="gru")(keras.ops.ones((2, 5, 4)))
        >>> tuple(out.shape)
        (2, 5, 6)
    """

    def __init__(self, units: int, cell: str = "lstm", **kwargs) -> None:
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        if cell not in _GATES:
            raise ValueError(f"cell must be one of {tuple(_GATES)}, got {cell!r}")
        if keras.backend.backend() != "torch":
            raise RuntimeError("BidirectionalRNN needs the torch Keras backend")
        self.units = units
        self.cell = cell
        self.supports_masking = True

    def build(self, input_shape) -> None:
        gates = _GATES[self.cell] * self.units
        self.directions = []
        for direction in ("forward", "backward"):
            input_kernel = self.add_weight(
                name=f"{direction}_input_kernel",
                shape=(gates, input_shape[-1]),
                initializer="glorot_uniform",
            )
            recurrent_kernel = self.add_weight(
                name=f"{direction}_recurrent_kernel",
                shape=(gates, self.units),
                initializer="orthogonal",
            )
            input_bias = self.add_weight(
                name=f"{direction}_input_bias", shape=(gates,), initializer=self._bias_initializer
            )
            recurrent_bias = self.add_weight(
                name=f"{direction}_recurrent_bias", shape=(gates,), initializer="zeros"
            )
            self.directions.append((input_kernel, recurrent_kernel, input_bias, recurrent_bias))

    def _bias_initializer(self, shape, dtype=None):
        bias = ops.zeros(shape, dtype=dtype)
        if self.cell == "lstm":  # torch gate order i, f, g, o: forget-gate bias 1 (Jozefowicz 2015)
            ones = ops.ones((self.units,), dtype=dtype)
            bias = ops.concatenate([bias[: self.units], ones, bias[2 * self.units :]])
        return bias

    def call(self, inputs, mask=None):
        sequence = ops.convert_to_tensor(inputs)
        batch, time = sequence.shape[0], sequence.shape[1]
        if mask is None:
            lengths = torch.full((batch,), time, dtype=torch.long)
        else:
            lengths = torch.clamp(ops.cast(mask, "int32").sum(dim=1), min=1).cpu()
        # Packing skips padding entirely and runs both directions in one fused call.
        packed = pack_padded_sequence(sequence, lengths, batch_first=True, enforce_sorted=False)
        params = [ops.cast(w, sequence.dtype) for direction in self.directions for w in direction]
        initial = sequence.new_zeros((2, batch, self.units))
        if self.cell == "lstm":
            data, _, _ = torch.ops.aten.lstm.data(
                packed.data, packed.batch_sizes, [initial, initial], params, True, 1, 0.0, True, True
            )
        else:
            data, _ = torch.ops.aten.gru.data(
                packed.data, packed.batch_sizes, initial, params, True, 1, 0.0, True, True
            )
        output, _ = pad_packed_sequence(
            PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices),
            batch_first=True,
            total_length=time,
        )
        if mask is not None:  # a row with no real token was run as length 1; zero it again
            output = output * ops.cast(ops.expand_dims(mask, -1), output.dtype)
        return output

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * self.units)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"units": self.units, "cell": self.cell})
        return config
