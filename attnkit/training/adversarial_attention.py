"""Adversarial training on attention logits: AT, iAT, VAT and iVAT as training strategies.

Kitada & Iyatomi, "Attention Meets Perturbations" (IEEE Access 2021; AT, iAT) and "Making
Attention Mechanisms More Robust and Interpretable with Virtual Adversarial Training"
(Applied Intelligence 2022; VAT, iVAT). The perturbation is added to the pre-softmax
attention logits of every attention layer that exposes ``logits_hook``. Gradients with respect
to the logits come from a zero probe added to them (``torch.autograd.grad``), so no parameter
gradient leaks from the inner passes and the step also runs under ``jit_compile=True``.

Choose one in a recipe (``training.strategy = "at"``) or with ``--set training.strategy=at``;
the ``[strategy]`` keys are the constructor arguments below.

Example:
    >>> get_strategy("iat", {"epsilon": 2.0}).epsilon
    2.0
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import keras
import torch
from keras import ops

from attnkit.errors import ConfigError
from attnkit.training.attention_probe import (
    fixed,
    hooked_attention_layers,
    probed_call,
    zero_probes,
)
from attnkit.training.layer_replay import LayerReplay
from attnkit.training.perturbation_trainer import PerturbationTrainer, concat_inputs
from attnkit.training.perturbations import (
    categorical_kl,
    interpretable_direction,
    random_unit_direction,
    scaled_direction,
    uniform_difference_direction,
)
from attnkit.training.strategies import TrainingStrategy, register_strategy


def _positive(name: str, value: float) -> float:
    if value <= 0:
        raise ConfigError(f"strategy.{name} must be positive, got {value}")
    return float(value)


class AttentionPerturbationStrategy(TrainingStrategy):
    """Common parts: checking the model, wrapping it, the per-step loss terms."""

    term_names: ClassVar[tuple[str, ...]] = ()
    reuse_encoder: bool = True
    _replay: LayerReplay | None = None
    _replay_model: keras.Model | None = None

    def prepare(self, model: keras.Model, task: Any) -> keras.Model:
        hooked_attention_layers(model)  # refuse models without a logits hook, before training
        self._replay = None
        return PerturbationTrainer(model, self)

    def replay_for(self, model: keras.Model) -> LayerReplay | None:
        """The :class:`LayerReplay` that lets perturbed passes reuse ``model``'s encoder
        (None with ``reuse_encoder=False``: every pass reruns the whole model)."""
        if not self.reuse_encoder:
            return None
        if self._replay is None or self._replay_model is not model:
            self._replay = LayerReplay(model, never_replay=hooked_attention_layers(model))
            self._replay_model = model
        return self._replay

    @staticmethod
    def recorded(replay: LayerReplay | None) -> AbstractContextManager:
        return nullcontext() if replay is None else replay.recording()

    @staticmethod
    def replayed(replay: LayerReplay | None) -> AbstractContextManager:
        return nullcontext() if replay is None else replay.replaying()

    def loss_terms(self, trainer: PerturbationTrainer, x, y, unlabelled) -> tuple[dict, Any]:
        """``({"loss": total, <parts>...}, clean predictions)`` for one labelled batch."""
        raise NotImplementedError


class _Adversarial(AttentionPerturbationStrategy):
    """AT and iAT: ``L(clean) + lambda * L(logits + r_adv)``."""

    term_names = ("clean_loss", "adversarial_loss")

    def __init__(
        self, epsilon: float = 1.0, adversarial_weight: float = 1.0, reuse_encoder: bool = True
    ) -> None:
        self.epsilon = _positive("epsilon", epsilon)
        self.adversarial_weight = float(adversarial_weight)
        self.reuse_encoder = bool(reuse_encoder)

    def direction(self, gradient, site) -> Any:
        raise NotImplementedError

    def perturbations(self, trainer: PerturbationTrainer, x, y) -> tuple[list, Any, Any]:
        """The adversarial perturbation of each attention site, the clean loss and output."""
        y_pred, sites = probed_call(trainer.inner, x, zero_probes, training=True)
        clean = trainer.task_loss(x, y, y_pred)
        gradients = torch.autograd.grad(
            clean, [site.perturbation for site in sites], retain_graph=True
        )
        deltas = [
            ops.stop_gradient(self.direction(gradient, site))
            for gradient, site in zip(gradients, sites, strict=True)
        ]
        return deltas, clean, y_pred

    def loss_terms(self, trainer, x, y, unlabelled):
        if unlabelled is not None:
            raise ConfigError(f"training strategy {self.name!r} does not use unlabelled data")
        replay = self.replay_for(trainer.inner)
        with self.recorded(replay):
            deltas, clean, y_pred = self.perturbations(trainer, x, y)
        with self.replayed(replay):
            y_adversarial, _ = probed_call(trainer.inner, x, fixed(deltas), training=True)
        adversarial = trainer.task_loss(x, y, y_adversarial)
        total = clean + self.adversarial_weight * adversarial
        return {"loss": total, "clean_loss": clean, "adversarial_loss": adversarial}, y_pred


@register_strategy
class AttentionAT(_Adversarial):
    """Attention AT: ``r = epsilon * g / ||g||`` per example, ``g = dL/d(logits)``.

    Args:
        epsilon: norm of the perturbation of each example's logits.
        adversarial_weight: lambda, the weight of the adversarial loss.
        reuse_encoder: the adversarial pass reuses the clean pass's layers upstream of the
            attention (see ``layer_replay``); False reruns the whole model, as the released
            code does.
    """

    name = "at"

    def direction(self, gradient, site):
        return scaled_direction(gradient, site.mask, self.epsilon)


@register_strategy
class AttentionIAT(_Adversarial):
    """Attention iAT: the perturbation lies in the span of directions toward the other
    examples' attention logits in the batch (Sato et al. 2018's interpretable AT).

    With ``repo_compat=False`` (default) the coefficients follow the gradient of the loss with
    respect to them, as the paper intends (see ``interpretable_direction``). The released code
    (shunk031/attention-meets-perturbation, ``advt.py``) instead differentiates at zero
    coefficients through a normalisation, which leaves ``r = epsilon * normalise(-dL/dlogits)``:
    a loss-*decreasing* perturbation that never uses the differences. ``repo_compat=True``
    reproduces that for parity runs.

    Args:
        epsilon: norm of the perturbation of each example's logits.
        adversarial_weight: lambda, the weight of the adversarial loss.
        repo_compat: reproduce the released code's direction.
        reuse_encoder: reuse the clean pass's layers upstream of the attention (as in AT).
    """

    name = "iat"

    def __init__(
        self,
        epsilon: float = 1.0,
        adversarial_weight: float = 1.0,
        repo_compat: bool = False,
        reuse_encoder: bool = True,
    ) -> None:
        super().__init__(epsilon, adversarial_weight, reuse_encoder)
        self.repo_compat = repo_compat

    def direction(self, gradient, site):
        if self.repo_compat:
            return scaled_direction(-gradient, site.mask, self.epsilon)
        return interpretable_direction(gradient, site.logits, site.mask, self.epsilon)


class _Virtual(AttentionPerturbationStrategy):
    """VAT and iVAT: ``L(labelled) + lambda * KL(p || p(logits + r_vadv))`` on labelled and
    unlabelled examples, one power iteration with step ``xi`` (Miyato et al.).

    Reconstructed from the VAT/iVAT abstracts and standard VAT (no code was released).
    """

    term_names = ("supervised_loss", "virtual_adversarial_loss")
    uses_unlabelled = True

    def __init__(
        self,
        epsilon: float = 1.0,
        xi: float = 0.1,
        virtual_weight: float = 1.0,
        reuse_encoder: bool = True,
    ) -> None:
        self.epsilon = _positive("epsilon", epsilon)
        self.xi = _positive("xi", xi)
        self.virtual_weight = float(virtual_weight)
        self.reuse_encoder = bool(reuse_encoder)

    def start_direction(self, site) -> Any:
        raise NotImplementedError

    def direction(self, gradient, site) -> Any:
        raise NotImplementedError

    def perturbations(
        self, trainer: PerturbationTrainer, inputs, replay: LayerReplay | None = None
    ) -> tuple[list, Any]:
        """The virtual adversarial perturbation of each site and the clean output."""
        with self.recorded(replay):
            y_clean, sites = probed_call(trainer.inner, inputs, training=True)
        reference = ops.stop_gradient(y_clean)
        starts = [self.xi * ops.stop_gradient(self.start_direction(site)) for site in sites]
        probes: list = []

        def nudged(index, logits, mask):
            probes.append(ops.zeros_like(logits).requires_grad_(True))
            return starts[index] + probes[-1]

        with self.replayed(replay):
            y_nudged, _ = probed_call(trainer.inner, inputs, nudged, training=True)
        divergence = categorical_kl(reference, y_nudged)
        gradients = torch.autograd.grad(divergence, probes)
        deltas = [
            ops.stop_gradient(self.direction(gradient, site))
            for gradient, site in zip(gradients, sites, strict=True)
        ]
        return deltas, y_clean

    def loss_terms(self, trainer, x, y, unlabelled):
        labelled_count = ops.shape(y)[0]
        inputs = x if unlabelled is None else concat_inputs(x, unlabelled)
        replay = self.replay_for(trainer.inner)
        deltas, y_all = self.perturbations(trainer, inputs, replay)
        y_pred = y_all[:labelled_count]
        supervised = trainer.task_loss(x, y, y_pred)
        with self.replayed(replay):
            y_adversarial, _ = probed_call(trainer.inner, inputs, fixed(deltas), training=True)
        virtual = categorical_kl(ops.stop_gradient(y_all), y_adversarial)
        total = supervised + self.virtual_weight * virtual
        terms = {"loss": total, "supervised_loss": supervised, "virtual_adversarial_loss": virtual}
        return terms, y_pred


@register_strategy
class AttentionVAT(_Virtual):
    """Attention VAT: start from a random unit direction ``d``, take ``g = dKL/d(xi d)``,
    perturb by ``r = epsilon * g / ||g||``.

    Args:
        epsilon: norm of the virtual adversarial perturbation per example.
        xi: finite-difference step of the power iteration (Miyato's default 0.1).
        virtual_weight: lambda, the weight of the KL term.
        seed: seed of the random start directions.
        reuse_encoder: the nudged and adversarial passes reuse the clean pass's layers
            upstream of the attention (see ``layer_replay``); False reruns the whole model.
    """

    name = "vat"

    def __init__(
        self,
        epsilon: float = 1.0,
        xi: float = 0.1,
        virtual_weight: float = 1.0,
        seed: int = 0,
        reuse_encoder: bool = True,
    ) -> None:
        super().__init__(epsilon, xi, virtual_weight, reuse_encoder)
        self.seed = seed
        self._noise: keras.random.SeedGenerator | None = None

    def start_direction(self, site):
        if self._noise is None:  # created lazily, on the device Keras trains on
            self._noise = keras.random.SeedGenerator(self.seed)
        return random_unit_direction(site.mask, seed=self._noise)

    def direction(self, gradient, site):
        return scaled_direction(gradient, site.mask, self.epsilon)


@register_strategy
class AttentionIVAT(_Virtual):
    """Attention iVAT: VAT restricted to the directions toward other examples' attention.

    The start is the uniform mix of the difference directions (Sato et al.'s iVAT starts the
    coefficients at ``1/K``); the KL gradient picks the coefficients as in iAT.

    Args:
        epsilon: norm of the virtual adversarial perturbation per example.
        xi: finite-difference step of the power iteration.
        virtual_weight: lambda, the weight of the KL term.
        reuse_encoder: reuse the clean pass's layers upstream of the attention (as in VAT).
    """

    name = "ivat"

    def start_direction(self, site):
        return uniform_difference_direction(site.logits, site.mask)

    def direction(self, gradient, site):
        return interpretable_direction(gradient, site.logits, site.mask, self.epsilon)
