"""Reuse the unperturbed part of a forward pass when only the attention logits change.

Adversarial training on attention runs the model two or three times per step with different
additions to the pre-softmax logits. Everything upstream of the attention (embeddings,
recurrent encoders, a BERT stack) sees the same inputs each time, so recomputing it only
costs time. :class:`LayerReplay` records every sub-layer call of one pass; in a later pass a
call whose inputs are the recorded ones (the same tensor objects, or for tensors that carry no
gradient, equal values) returns the recorded outputs instead of running again. The attention
layers themselves, and any layer that contains one, always run, so the perturbation and all
that depends on it are recomputed, and autograd sees one shared encoder graph: the final
backward pass goes through the encoder once for all the loss terms.

A replayed layer reuses the recorded call's dropout masks and does not update its state twice
(e.g. batch-norm statistics): the passes then differ only by the perturbation. The released
reference code reruns the whole model instead; strategies offer ``reuse_encoder=False`` for that.

Example:
    >>> from attnkit.tasks.text_classification.model import TextClassifier
    >>> model = TextClassifier(vocabulary_size=20, num_classes=2, embedding_dim=4, units=3)
    >>> x = {"token_ids": keras.ops.ones((2, 5), "int32")}
    >>> replay = LayerReplay(model, never_replay=[model.attention_layer])
    >>> with replay.recording():
    ...     first = model(x)
    >>> with replay.replaying():
    ...     second = model(x)
    >>> replay.replayed_calls > 0
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import keras
import torch
from keras import tree

from attnkit.training.attention_probe import all_layers


@dataclass
class _CallRecord:
    """One recorded call: its inputs and outputs, and the calls made inside it."""

    args: Any
    kwargs: dict
    outputs: Any
    nested: list[tuple[int, int]] = field(default_factory=list)  # (layer id, call index)
    contains_fixed_layer: bool = False


def _same_leaf(recorded: Any, current: Any) -> bool:
    recorded_is_tensor = isinstance(recorded, torch.Tensor)
    if recorded_is_tensor != isinstance(current, torch.Tensor):
        return False
    if not recorded_is_tensor:
        try:
            return bool(recorded == current)
        except (TypeError, ValueError, RuntimeError):
            return recorded is current
    if recorded is current:
        return True
    # A fresh tensor may stand in for the recorded one only if no gradient can flow through
    # either (token ids, masks, frozen embeddings): then equal values mean equal outputs.
    return (
        not recorded.requires_grad
        and not current.requires_grad
        and recorded.shape == current.shape
        and recorded.dtype == current.dtype
        and recorded.device == current.device
        and torch.equal(recorded, current)
    )


def _same_inputs(record: _CallRecord, args: tuple, kwargs: dict) -> bool:
    if set(record.kwargs) != set(kwargs):
        return False
    recorded = tree.flatten((record.args, [record.kwargs[key] for key in sorted(kwargs)]))
    current = tree.flatten((args, [kwargs[key] for key in sorted(kwargs)]))
    if len(recorded) != len(current):
        return False
    return all(_same_leaf(a, b) for a, b in zip(recorded, current, strict=True))


class LayerReplay:
    """Records the sub-layer calls of one forward pass of ``model`` and replays them later.

    Args:
        model: the model whose sub-layers (at every depth) are recorded; the model's own call
            always runs.
        never_replay: layers that must run in every pass (the hooked attention layers); a layer
            that calls one of them also always runs.
    """

    def __init__(self, model: keras.Model, never_replay: Sequence[keras.layers.Layer]) -> None:
        self.layers = [layer for layer in all_layers(model) if layer is not model]
        self.fixed = {id(layer) for layer in never_replay}
        self.records: dict[int, list[_CallRecord]] = {}
        self.names = {id(layer): layer.name for layer in self.layers}
        self.replayed_calls = 0
        self.recomputed_calls = 0
        self.replayed_layers: list[str] = []  # names, in the last replayed pass
        self._mode: str | None = None
        self._open: list[list[tuple[int, int]]] = []
        self._next_index: dict[int, int] = {}

    @contextmanager
    def recording(self) -> Iterator[LayerReplay]:
        """Run the passes inside the block normally, recording every sub-layer call."""
        self.records = {}
        with self._installed("record"):
            yield self

    @contextmanager
    def replaying(self) -> Iterator[LayerReplay]:
        """Inside the block, calls with the recorded inputs return the recorded outputs."""
        self._next_index = {}
        self.replayed_layers = []
        with self._installed("replay"):
            yield self

    @contextmanager
    def _installed(self, mode: str) -> Iterator[None]:
        self._mode = mode
        for layer in self.layers:
            layer.call = self._wrapped(layer, layer.call)
        try:
            yield
        finally:
            for layer in self.layers:
                del layer.call  # back to the class's method
            self._mode = None
            self._open = []

    def _wrapped(self, layer: keras.layers.Layer, original):
        key = id(layer)

        def call(*args, **kwargs):
            if self._mode == "record":
                return self._record(key, original, args, kwargs)
            return self._replay(key, original, args, kwargs)

        return call

    def _record(self, key: int, original, args: tuple, kwargs: dict):
        nested: list[tuple[int, int]] = []
        self._open.append(nested)
        try:
            outputs = original(*args, **kwargs)
        finally:
            self._open.pop()
        calls = self.records.setdefault(key, [])
        contains_fixed = key in self.fixed or any(inner in self.fixed for inner, _ in nested)
        calls.append(_CallRecord(args, dict(kwargs), outputs, nested, contains_fixed))
        if self._open:
            self._open[-1].extend([(key, len(calls) - 1), *nested])
        return outputs

    def _replay(self, key: int, original, args: tuple, kwargs: dict):
        index = self._next_index.get(key, 0)
        self._next_index[key] = index + 1
        calls = self.records.get(key, [])
        if index < len(calls):
            record = calls[index]
            if not record.contains_fixed_layer and _same_inputs(record, args, kwargs):
                for inner, inner_index in record.nested:  # skipped with their parent
                    self._next_index[inner] = max(self._next_index.get(inner, 0), inner_index + 1)
                self.replayed_calls += 1
                self.replayed_layers.append(self.names[key])
                return record.outputs
        self.recomputed_calls += 1
        return original(*args, **kwargs)
