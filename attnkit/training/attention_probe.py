"""Run a model with its attention logits observed and perturbed through the layers' hooks.

Attention layers in attnkit (additive, global-context, LAMA) call ``logits_hook(logits,
mask)`` just before their softmax. :func:`probed_call` installs a hook on every such layer of
a model for one forward pass, records each call's logits and mask (a layer called twice,
e.g. over several memory hops, gives two sites) and adds a perturbation per site.

Example:
    >>> from attnkit.tasks.text_classification.model import TextClassifier
    >>> model = TextClassifier(vocabulary_size=20, num_classes=2, embedding_dim=4, units=3)
    >>> outputs, sites = probed_call(model, {"token_ids": keras.ops.ones((2, 5), "int32")})
    >>> [tuple(site.logits.shape) for site in sites]
    [(2, 5)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from attnkit.errors import ConfigError

PerturbationFn = Callable[[int, Any, Any], Any]


@dataclass
class AttentionSite:
    """One call of an attention layer during a forward pass.

    ``logits`` are the unperturbed pre-softmax scores, ``mask`` is a float mask of real
    positions with the logits' shape, and ``perturbation`` is what was added (or None).
    """

    layer: keras.layers.Layer
    logits: Any
    mask: Any
    perturbation: Any = None


def hooked_attention_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model`` that expose ``logits_hook``; a clear error if there are none."""
    layers = [layer for layer in all_layers(model) if hasattr(layer, "logits_hook")]
    if not layers:
        raise ConfigError(
            f"model {model.name!r} ({type(model).__name__}) has no attention layer with a logits "
            "hook, so attention-perturbation training cannot run on it; use a model whose "
            "attention is AdditiveAttention, GlobalContextAttention, LowRankMultiHeadAttention or "
            "AttentionSoftmax (e.g. text_classifier with head=additive|global-context|lama, the "
            "pair classifier, MemNet, TNet-ATT)"
        )
    return layers


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every sub-layer of ``model``, at any depth, once each (breadth first)."""
    seen: dict[int, keras.layers.Layer] = {}
    stack = list(model.layers)
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen[id(layer)] = layer
        stack.extend(getattr(layer, "layers", []) or [])
        stack.extend(getattr(layer, "_layers", []) or [])
    return list(seen.values())


def full_mask(logits, mask):
    """``mask`` (None or broadcastable) as a float tensor with the logits' shape."""
    if mask is None:
        return ops.ones_like(logits)
    return ops.broadcast_to(ops.cast(mask, logits.dtype), ops.shape(logits))


def probed_call(
    model: keras.Model,
    inputs: Any,
    perturb: PerturbationFn | None = None,
    training: bool = False,
) -> tuple[Any, list[AttentionSite]]:
    """Call ``model`` once; ``perturb(index, logits, mask)`` gives each site's addition.

    ``perturb`` may return None (observe only). The hooks are removed afterwards even if
    the call fails.
    """
    layers = hooked_attention_layers(model)
    sites: list[AttentionSite] = []

    def hook_for(layer):
        def hook(logits, mask):
            real = full_mask(logits, mask)
            delta = None if perturb is None else perturb(len(sites), logits, real)
            sites.append(AttentionSite(layer, logits, real, delta))
            return logits if delta is None else logits + delta

        return hook

    previous = [layer.logits_hook for layer in layers]
    for layer in layers:
        layer.logits_hook = hook_for(layer)
    try:
        outputs = model(inputs, training=training)
    finally:
        for layer, hook in zip(layers, previous, strict=True):
            layer.logits_hook = hook
    return outputs, sites


def zero_probes(index: int, logits, mask):
    """A perturbation function adding zeros that autograd can differentiate against."""
    return ops.zeros_like(logits).requires_grad_(True)


def fixed(perturbations: Sequence[Any]) -> PerturbationFn:
    """A perturbation function adding ``perturbations[i]`` at site ``i``."""

    def perturb(index: int, logits, mask):
        if index >= len(perturbations):
            raise RuntimeError(
                f"the model called its attention {index + 1} times but only "
                f"{len(perturbations)} perturbations were computed (non-deterministic graph?)"
            )
        return perturbations[index]

    return perturb
