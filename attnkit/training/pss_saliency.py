"""Gradient saliency over context words: PSS's alternative to attention for extraction.

Su et al. (2021) find each instance's most important context word by attention *or* by
gradients; their BERT code's gradient variant, ported here for any attention-exposing model:
``passes`` forward/backward passes, each adding Gaussian noise (std ``noise``) to the token
vectors of the sentence (the embedding table's or the BERT encoder's output), saliency_i =
sum_d (d score / d e_i)_d * e_i,d (gradient x input of that pass), averaged over the passes;
then the minimum over the context is subtracted, positions outside the context (aspect,
padding, erased words) are zeroed and the result is normalised to sum 1, so PSS's entropy
test and argmax apply to it as to attention weights.

Library choices: the score is the log-probability of the gold polarity (the released code
differentiates the gold label's logit; these models end in a softmax), the passes run
without dropout, and a context whose saliencies are all equal (one word left, say) gets
equal weights instead of zeros.

Example:
    >>> normalise_saliency(np.array([[0.5, 2.0, 1.0, 9.0]]), np.array([[1, 1, 1, 0]]))
    array([[0.  , 0.75, 0.25, 0.  ]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import torch
from keras import ops

from attnkit.errors import ConfigError


def _token_layers(model: keras.Model) -> list[keras.layers.Layer]:
    from attnkit.layers.bert_encoder import BertEncoder

    layers = [
        layer for layer in model.layers
        if isinstance(layer, keras.layers.Embedding | BertEncoder)
    ]  # fmt: skip
    if not layers:
        raise ConfigError(
            f"strategy.extract_by='gradient' needs a model with an embedding table or BERT "
            f"encoder; {type(model).__name__} has neither"
        )
    return layers


def normalise_saliency(saliency: np.ndarray, context: np.ndarray) -> np.ndarray:
    """Per row: minus the context's minimum, zero off the context, normalised to sum 1
    (equal weights where the context's saliencies are all equal; zeros with no context)."""
    context = np.asarray(context) > 0
    out = np.zeros(saliency.shape, dtype="float64")
    for row in range(saliency.shape[0]):
        values = saliency[row][context[row]]
        if values.size == 0:
            continue
        shifted = values - values.min()
        total = shifted.sum()
        out[row, context[row]] = shifted / total if total > 0 else 1.0 / values.size
    return out


def gradient_saliency(
    model: keras.Model,
    inputs: dict,
    labels: np.ndarray,
    passes: int = 10,
    noise: float = 0.15,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Raw (un-normalised) saliency (batch, n) of the sentence tokens ``inputs[ids]`` for the
    gold ``labels``, averaged over ``passes`` noisy passes; ``model.attention_inputs[0]``
    names the sentence ids."""
    ids_name = model.attention_inputs[0]
    sentence_ids = ops.convert_to_tensor(inputs[ids_name])
    layers = _token_layers(model)
    originals = [layer.call for layer in layers]
    probes: list[tuple[Any, Any]] = []

    def probed(original: Callable):
        def call(token_ids, *args, **kwargs):
            output = original(token_ids, *args, **kwargs)
            ids = ops.convert_to_tensor(token_ids)
            if ids.shape != sentence_ids.shape or not torch.equal(
                ids.to(sentence_ids.device), sentence_ids
            ):
                return output  # the aspect's tokens, not the sentence's
            jitter = torch.randn(output.shape, generator=generator).to(output.device) * noise
            probe = torch.zeros_like(output, requires_grad=True)
            noisy = output.detach() + jitter
            probes.append((noisy, probe))
            return noisy + probe

        return call

    gold = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    total = np.zeros(tuple(sentence_ids.shape), dtype="float64")
    try:
        for layer, original in zip(layers, originals, strict=True):
            layer.call = probed(original)
        for _ in range(passes):
            probes.clear()
            with torch.enable_grad():
                probabilities = model(inputs, training=False)
                picked = probabilities.gather(1, gold.to(probabilities.device)[:, None])
                score = torch.log(picked.clamp_min(1e-12)).sum()
                gradients = torch.autograd.grad(score, [probe for _, probe in probes])
            for gradient, (noisy, _) in zip(gradients, probes, strict=True):
                total += (gradient * noisy).sum(dim=-1).detach().cpu().numpy()
    finally:
        for layer, original in zip(layers, originals, strict=True):
            layer.call = original
    if not probes:
        raise ConfigError(f"no token layer of {type(model).__name__} read {ids_name!r}")
    return total / passes


def saliency_weigher(
    model: keras.Model, passes: int, noise: float, seed: int
) -> Callable[[dict, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``weigh(x, labels) -> (predicted classes, normalised saliency (B, n))`` for a batch
    whose round's words are already erased; the predictions come from a clean pass."""
    generator = torch.Generator().manual_seed(seed)
    mask_name = model.attention_inputs[1]

    def weigh(x: dict, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            predicted = keras.ops.convert_to_numpy(model(x, training=False)).argmax(axis=1)
        raw = gradient_saliency(model, x, labels, passes, noise, generator)
        return predicted, normalise_saliency(raw, keras.ops.convert_to_numpy(x[mask_name]))

    return weigh
