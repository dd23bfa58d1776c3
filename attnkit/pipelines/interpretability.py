"""Attention against gradient-based word importance: per-token scores and their agreement.

Gradient importance follows Jain & Wallace (2019), the protocol of the adversarial-attention
papers: the gradient of the predicted class's probability with respect to each token's
embedding, dotted with that embedding (the gradient with respect to the one-hot input), in
absolute value, with the attention weights held constant (the graph is cut at the attention
logits, so importance does not flow through the attention itself). Agreement is Pearson's r
and Kendall's tau between the two over each example's real tokens, averaged over examples.

Example:
    >>> report = explain_split(loaded, split)  # doctest: +SKIP
    >>> sorted(report.agreement)  # doctest: +SKIP
    ['attention_gradient_kendall_tau', 'attention_gradient_pearson']
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import torch
from keras import ops
from scipy import stats

from attnkit.errors import AttnkitError
from attnkit.training.attention_probe import hooked_attention_layers


@dataclass
class ExplanationReport:
    """Per-example tokens, attention and gradient importance, and the dataset agreement."""

    tokens: list[list[str]] = field(default_factory=list)
    attention: list[np.ndarray] = field(default_factory=list)
    importance: list[np.ndarray] = field(default_factory=list)
    agreement: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready record per example."""
        return [
            {
                "tokens": tokens,
                "attention": [round(float(v), 6) for v in attention],
                "gradient_importance": [round(float(v), 6) for v in importance],
            }
            for tokens, attention, importance in zip(
                self.tokens, self.attention, self.importance, strict=True
            )
        ]


def _embedding_layers(model: keras.Model) -> list[keras.layers.Layer]:
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)]
    if not layers:
        raise AttnkitError(
            f"model {model.name!r} has no Embedding layer, so gradient importance is undefined"
        )
    return layers


def gradient_importance(model: keras.Model, inputs: dict) -> np.ndarray:
    """|d p(predicted class) / d e_t . e_t| per token (batch, time); attention held fixed."""
    probes: list[tuple[Any, Any]] = []
    embeddings = _embedding_layers(model)
    attention_layers = hooked_attention_layers(model)
    originals = [layer.call for layer in embeddings]

    def probed(original):
        def call(*args, **kwargs):
            output = original(*args, **kwargs)
            probe = ops.zeros_like(output).requires_grad_(True)
            probes.append((output, probe))
            return output + probe

        return call

    previous_hooks = [layer.logits_hook for layer in attention_layers]
    try:
        for layer, original in zip(embeddings, originals, strict=True):
            layer.call = probed(original)
        for layer in attention_layers:
            layer.logits_hook = lambda logits, mask: ops.stop_gradient(logits)
        with torch.enable_grad():
            probabilities = model(inputs, training=False)
            chosen = ops.max(probabilities, axis=-1)
            gradients = torch.autograd.grad(ops.sum(chosen), [probe for _, probe in probes])
    finally:
        for layer, original in zip(embeddings, originals, strict=True):
            layer.call = original
        for layer, hook in zip(attention_layers, previous_hooks, strict=True):
            layer.logits_hook = hook
    total = sum(
        ops.abs(ops.sum(gradient * output.detach(), axis=-1))
        for gradient, (output, _) in zip(gradients, probes, strict=True)
    )
    return ops.convert_to_numpy(total)


def agreement(attention: list[np.ndarray], importance: list[np.ndarray]) -> dict[str, float]:
    """Mean Pearson r and Kendall tau over examples with at least two real tokens."""
    pearson, kendall = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant vectors give NaN, which are skipped
        for a, g in zip(attention, importance, strict=True):
            if len(a) < 2:
                continue
            r = stats.pearsonr(a, g).statistic
            tau = stats.kendalltau(a, g).statistic
            if np.isfinite(r):
                pearson.append(r)
            if np.isfinite(tau):
                kendall.append(tau)
    return {
        "attention_gradient_pearson": float(np.mean(pearson)) if pearson else float("nan"),
        "attention_gradient_kendall_tau": float(np.mean(kendall)) if kendall else float("nan"),
    }


def explain_split(loaded: Any, split: Any, batch_size: int = 128) -> ExplanationReport:
    """Attention, gradient importance and their agreement for every row of ``split``.

    ``loaded`` is a :class:`attnkit.pipelines.bundle.LoadedModel` whose model has
    ``token_attention`` (the text classifier does).
    """
    model, task, preprocessor = loaded.model, loaded.task, loaded.preprocessor
    if not hasattr(model, "token_attention"):
        raise AttnkitError(f"model {model.name!r} does not expose per-token attention")
    batches = task.batches(preprocessor, split, batch_size, shuffle=False, seed=0, labelled=False)
    texts = split.frame["text"].to_list()
    report = ExplanationReport()
    rows_out: dict[int, tuple[list[str], np.ndarray, np.ndarray]] = {}
    for index in range(len(batches)):
        inputs = batches[index][0]
        weights = model.token_attention(inputs, batch_size=batch_size)
        scores = gradient_importance(model, inputs)
        lengths = (np.asarray(inputs["token_ids"]) != 0).sum(axis=1)
        for row, w, s, length in zip(batches.order[index], weights, scores, lengths, strict=True):
            tokens = preprocessor.tokens(texts[row])[:length]
            rows_out[int(row)] = (tokens, w[:length], s[:length])
    for row in range(len(texts)):
        tokens, w, s = rows_out[row]
        report.tokens.append(tokens)
        report.attention.append(w)
        report.importance.append(s)
    report.agreement = agreement(report.attention, report.importance)
    return report


def plot_example(tokens: list[str], attention: np.ndarray, importance: np.ndarray, path: Path) -> Path:
    """Save a PNG with one example's attention beside its (max-scaled) gradient importance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scaled = importance / (importance.max() or 1.0)
    positions = np.arange(len(tokens))
    figure, axis = plt.subplots(figsize=(max(6.0, 0.45 * len(tokens)), 3.2))
    axis.bar(positions - 0.2, attention, width=0.4, label="attention weight")
    axis.bar(positions + 0.2, scaled * attention.max(), width=0.4,
             label="gradient importance (scaled to the attention maximum)")
    axis.set_xticks(positions, tokens, rotation=60, ha="right", fontsize=8)
    axis.legend(fontsize=8)
    axis.set_title("Attention vs gradient importance")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def supports_explanations(model: keras.Model) -> bool:
    """True when the model has per-token attention with a logits hook and an embedding."""
    if not hasattr(model, "token_attention"):
        return False
    try:
        hooked_attention_layers(model)
        _embedding_layers(model)
    except (AttnkitError, ValueError):
        return False
    return True


def log_interpretability(loaded: Any, splits: dict, batch_size: int) -> dict[str, float]:
    """Agreement metrics on the dev and test splits (those present), for the active MLflow run.

    Dev agreement is what recipe choices may look at; test agreement is the reported figure.
    Also logs ``interpretability/example.png`` (the first example of the last scored split
    with at least five tokens) and the per-example scores as ``interpretability/<split>.jsonl``.
    """
    import json
    import tempfile

    import mlflow

    if not supports_explanations(loaded.model):
        return {}
    names = [name for name in ("dev", "test") if name in splits]
    metrics: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        for name in names:
            report = explain_split(loaded, splits[name], batch_size)
            metrics.update({f"{name}_{key}": value for key, value in report.agreement.items()})
            lines = "\n".join(json.dumps(row) for row in report.rows())
            (folder / f"{name}.jsonl").write_text(lines + "\n", encoding="utf-8")
        if names:
            example = next((i for i, t in enumerate(report.tokens) if len(t) >= 5), 0)
            plot_example(report.tokens[example], report.attention[example],
                         report.importance[example], folder / "example.png")
            mlflow.log_artifacts(str(folder), "interpretability")
    return metrics


def explain(model_uri: str, data: str, batch_size: int = 128) -> ExplanationReport:
    """Attention, gradient importance and their agreement for every input in ``data``.

    ``data`` is any file the model's task reads (labels are not needed: ``.txt`` with one
    input per line works). With an active MLflow run, nothing is logged; see
    :func:`log_interpretability` for what ``fit`` logs.

    Example:
        >>> report = attnkit.explain("models:/sst2@champion", "reviews.txt")  # doctest: +SKIP
        >>> report.agreement["attention_gradient_kendall_tau"]  # doctest: +SKIP
        0.41
    """
    from attnkit.errors import DataError
    from attnkit.pipelines.tracking import load_model

    path = Path(data)
    if not path.is_file():
        raise DataError(path, "not found (expected a file of inputs)")
    loaded = load_model(model_uri)
    split = loaded.task.read_file(path, loaded.recipe["data"], labelled=False)
    return explain_split(loaded, split, batch_size)
