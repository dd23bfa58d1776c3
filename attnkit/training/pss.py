"""Progressive self-supervised attention learning (PSS; Tang et al. 2019, Su et al. 2021).

A training strategy for any model that exposes its attention over context positions:
``model.with_attention(inputs, training)`` returns ``(probabilities, attention (B, n))`` and
``model.attention_inputs`` names the inputs holding the token ids and the attention mask
(the ABSA models, :class:`attnkit.tasks.absa.inputs.AttentionExposingModel`). The batches
must carry each example's row in the training split under ``"row"``.

Before the first epoch, ``initialize`` runs ``rounds`` extraction rounds: each trains the
model afresh (from the same initial weights) on the training data with every word extracted
so far erased (token id and attention mask set to 0), keeps the epoch with the best dev
metric (``fit``'s monitor, on the dev split carved from train; ``round_select =
"train_accuracy"`` keeps the epoch with the best training accuracy, as released), runs the training data
through it once more without dropout (``extract_from = "inference"``; ``"train_pass"`` uses
the attention recorded while training that epoch, as the released code does) and extracts
one word per peaked instance (:mod:`attnkit.training.pss_extraction`). ``fit`` then trains
the model from the same initial weights on the original data with

    loss = CE + weight * mean_batch sum_i (alpha_i * amask_i - avalue_i)^2.

The released code trains one such final model per prefix of the rounds (FINAL-0 ... FINAL-K,
the targets of the first k rounds) and reports the best on the test set. With
``select_rounds = true`` the strategy trains them too and keeps the k with the best dev score
(ties: the smaller k; k = 0 is plain training), so ``fit``'s final training uses the targets
of rounds 1..k.

The words extracted per round go to MLflow (``pss/round_<k>.tsv``, ``pss/summary.json``) with
per-round metrics; the extraction is saved in the run's checkpoint folder, so a resumed run
keeps its regulariser targets.

Example:
    >>> from attnkit.training import get_strategy
    >>> strategy = get_strategy("pss", {"rounds": 2, "weight": 0.5})
    >>> strategy.name, strategy.rounds, strategy.entropy_threshold
    ('pss', 2, 4.0)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import torch

from attnkit.errors import ConfigError
from attnkit.training.pss_extraction import Extraction, extract_words
from attnkit.training.pss_saliency import saliency_weigher
from attnkit.training.strategies import FitContext, TrainingStrategy, register_strategy

ROW_KEY = "row"
EXTRACT_FROM = ("inference", "train_pass")
EXTRACT_BY = ("attention", "gradient")
ROUND_SELECT = ("dev", "train_accuracy")
EXTRACTION_FILE = "pss_extraction.json"


def _erase(inputs: dict, names: tuple[str, str], table: torch.Tensor | None) -> dict:
    """``inputs`` with the token ids and the attention mask zeroed where ``table`` (rows,
    length) marks an erased word of the batch's rows."""
    erased = {name: keras.ops.convert_to_tensor(value) for name, value in inputs.items()}
    if table is None:
        return erased
    rows = erased[ROW_KEY].to(device=table.device, dtype=torch.long)
    for name in names:
        values = erased[name]
        keep = 1 - table[rows, : values.shape[1]].to(device=values.device, dtype=values.dtype)
        erased[name] = values * keep
    return erased


class _RowTrainer(keras.Model):
    """Trains ``inner`` through ``with_attention`` on batches that carry ``row``.

    ``erase_table`` (rows, length) erases extracted words (extraction rounds); ``targets`` =
    ``(amask, avalue, weight)`` adds the PSS attention regulariser (final training);
    ``record`` keeps each row's attention and correctness of the latest epoch.
    """

    def __init__(self, inner: keras.Model, name: str) -> None:
        super().__init__(name=name)
        self.inner = inner
        self.erase_table: torch.Tensor | None = None
        self.targets: tuple[torch.Tensor, torch.Tensor, float] | None = None
        self.record: dict[int, tuple[np.ndarray, bool]] | None = None
        self.ce_tracker = keras.metrics.Mean(name="ce")
        self.attention_tracker = keras.metrics.Mean(name="attention_loss")
        self.built = True

    def call(self, inputs, training: bool = False):
        return self.inner(_erase(inputs, self.inner.attention_inputs, self.erase_table),
                          training=training)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError("PSS training does not support sample weights")
        if not isinstance(x, dict) or ROW_KEY not in x:
            raise ConfigError(f"PSS needs batches whose inputs carry {ROW_KEY!r}")
        x = _erase(x, self.inner.attention_inputs, self.erase_table)
        self.zero_grad()
        y_pred, attention = self.inner.with_attention(x, training=True)
        ce = self.compute_loss(x=x, y=y, y_pred=y_pred)
        total = ce
        penalty = torch.zeros((), device=ce.device)
        if self.targets is not None:
            amask, avalue, weight = self.targets
            rows = x[ROW_KEY].to(device=amask.device, dtype=torch.long)
            length = attention.shape[1]
            picked_mask = amask[rows, :length].to(device=attention.device, dtype=attention.dtype)
            picked_value = avalue[rows, :length].to(device=attention.device, dtype=attention.dtype)
            gap = attention * picked_mask - picked_value
            penalty = (gap**2).sum(dim=1).mean()
            penalty = penalty.to(ce.dtype)
            total = ce + weight * penalty
        if self.record is not None:
            self._remember(x, y, y_pred, attention)
        self.optimizer.scale_loss(total).backward()
        trainable = self.trainable_weights
        gradients = [variable.value.grad for variable in trainable]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(total.detach())
            elif metric.name == "ce":
                metric.update_state(ce.detach())
            elif metric.name == "attention_loss":
                metric.update_state(penalty.detach())
            else:
                metric.update_state(y, y_pred)
        return self.get_metrics_result()

    def _remember(self, x, y, y_pred, attention) -> None:
        weights = attention.detach().cpu().numpy()
        right = y_pred.detach().cpu().numpy().argmax(axis=1) == np.asarray(keras.ops.convert_to_numpy(y))
        for k, row in enumerate(keras.ops.convert_to_numpy(x[ROW_KEY])):
            self.record[int(row)] = (weights[k], bool(right[k]))


def _attention_weigher(model: keras.Model):
    """``weigh(x, labels) -> (predicted classes, attention (B, n))`` from one pass without
    dropout."""

    def weigh(x: dict, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            probabilities, weights = model.with_attention(x, training=False)
        return (keras.ops.convert_to_numpy(probabilities).argmax(axis=1),
                keras.ops.convert_to_numpy(weights))

    return weigh


def _inference_pass(model: keras.Model, batches: Any, erase: torch.Tensor | None, weigh=None):
    """Each training row's word weights (attention, or what ``weigh(x, labels)`` gives) and
    correctness, in :func:`extract_words`' layout: rows, weights, correct, token ids."""
    weigh = weigh or _attention_weigher(model)
    rows, weights, correct, tokens = [], [], [], []
    names = model.attention_inputs
    for index in range(len(batches)):
        x, y = batches[index][:2]
        x = _erase(x, names, erase)
        labels = np.asarray(keras.ops.convert_to_numpy(y))
        predicted, batch_weights = weigh(x, labels)
        ids = keras.ops.convert_to_numpy(x[names[0]])
        for k, row in enumerate(keras.ops.convert_to_numpy(x[ROW_KEY])):
            rows.append(int(row))
            weights.append(batch_weights[k])
            correct.append(bool(predicted[k] == labels[k]))
            tokens.append(ids[k])
    return rows, weights, np.array(correct), tokens


@register_strategy
class ProgressiveSelfSupervisedAttention(TrainingStrategy):
    """PSS: ``rounds`` extraction rounds, then training with the attention regulariser.

    Args:
        rounds: int. Extraction rounds K (the paper: 5). 0 trains with CE only.
        entropy_threshold: float. Bits below which an instance's attention is trusted (4.0).
        weight: float. Lambda of the regulariser (TNet-ATT: 0.5 on Restaurants; MN: 1.0).
        round_epochs: int. Epochs per extraction round (0: ``training.epochs``).
        round_patience: int. Early-stopping patience of a round (-1: ``training.patience``).
        extract_from: ``"inference"`` (a clean pass after training) or ``"train_pass"``
            (the attention recorded during the selected epoch's training pass, as released).
        round_select: which epoch of a round extracts: ``"dev"`` (the best by ``fit``'s dev
            monitor, early-stopped) or ``"train_accuracy"`` (the best accuracy of the epoch's
            training pass, the released code's choice; patience then counts epochs without
            a gain in it).
        select_rounds: bool. Train the final model on the targets of rounds 1..k for every
            k = 0..rounds and keep the k with the best dev score (the released code's
            FINAL-k models, chosen on dev instead of test). Costs rounds + 1 trainings.
        extract_by: ``"attention"`` (the PSS papers' main method) or ``"gradient"`` (Su et
            al. 2021's alternative: noisy gradient x input saliency of the sentence's token
            vectors after the round, :mod:`attnkit.training.pss_saliency`; needs
            ``extract_from = "inference"``).
        saliency_passes: int. Noisy passes averaged by ``extract_by = "gradient"`` (10).
        saliency_noise: float. Std of the Gaussian noise on the token vectors (0.15).
    """

    name = "pss"

    def __init__(
        self,
        rounds: int = 5,
        entropy_threshold: float = 4.0,
        weight: float = 0.5,
        round_epochs: int = 0,
        round_patience: int = -1,
        extract_from: str = "inference",
        select_rounds: bool = False,
        extract_by: str = "attention",
        saliency_passes: int = 10,
        saliency_noise: float = 0.15,
        round_select: str = "dev",
    ) -> None:
        if rounds < 0:
            raise ConfigError(f"strategy.rounds must be >= 0, got {rounds}")
        if entropy_threshold <= 0:
            raise ConfigError(f"strategy.entropy_threshold must be positive, got {entropy_threshold}")
        if weight < 0:
            raise ConfigError(f"strategy.weight must be >= 0, got {weight}")
        if extract_from not in EXTRACT_FROM:
            raise ConfigError(f"strategy.extract_from must be one of {EXTRACT_FROM}, got "
                              f"{extract_from!r}")
        if extract_by not in EXTRACT_BY:
            raise ConfigError(f"strategy.extract_by must be one of {EXTRACT_BY}, got {extract_by!r}")
        if extract_by == "gradient" and extract_from != "inference":
            raise ConfigError("strategy.extract_by='gradient' computes saliency after each round, "
                              f"so it needs strategy.extract_from='inference', got {extract_from!r}")
        if round_select not in ROUND_SELECT:
            raise ConfigError(f"strategy.round_select must be one of {ROUND_SELECT}, got "
                              f"{round_select!r}")
        if saliency_passes < 1:
            raise ConfigError(f"strategy.saliency_passes must be >= 1, got {saliency_passes}")
        if saliency_noise < 0:
            raise ConfigError(f"strategy.saliency_noise must be >= 0, got {saliency_noise}")
        self.extract_by = extract_by
        self.saliency_passes = saliency_passes
        self.saliency_noise = saliency_noise
        self.rounds = rounds
        self.entropy_threshold = entropy_threshold
        self.weight = weight
        self.round_epochs = round_epochs
        self.round_patience = round_patience
        self.extract_from = extract_from
        self.round_select = round_select
        if not isinstance(select_rounds, bool):
            raise ConfigError(f"strategy.select_rounds must be true or false, got {select_rounds!r}")
        self.select_rounds = select_rounds
        self.used_rounds = rounds  # the rounds whose words the final training's targets use
        self.context: FitContext | None = None
        self.trainer: _RowTrainer | None = None
        self.extraction = Extraction()
        self.round_seconds: list[float] = []

    # --- strategy hooks ---
    def prepare(self, model: keras.Model, task: Any) -> keras.Model:
        if not (hasattr(model, "with_attention") and hasattr(model, "attention_inputs")):
            raise ConfigError(
                f"training.strategy='pss' needs a model that exposes its attention "
                f"(with_attention, attention_inputs); {type(model).__name__} does not"
            )
        self.trainer = _RowTrainer(model, "pss_trainer")
        return self.trainer

    def bind(self, context: FitContext) -> None:
        self.context = context
        saved = self._saved_extraction()
        if saved is not None and saved.is_file():  # a resumed run keeps its targets
            state = json.loads(saved.read_text(encoding="utf-8"))
            self.extraction = Extraction.from_json(json.dumps(state["words"]))
            self.used_rounds = int(state.get("used_rounds", self.extraction.rounds()))
            self._set_targets(int(state["rows"]), self._length())

    def initialize(self, model: keras.Model, trainer: keras.Model, train_batches: Any) -> None:
        if self.context is None:
            raise ConfigError("PSS needs fit's context (strategy.bind) before initialize")
        initial = model.get_weights()
        rows, length = int(train_batches.size), self._length()
        self.extraction = Extraction()
        for round_index in range(1, self.rounds + 1):
            started = time.perf_counter()
            model.set_weights(initial)
            erase = torch.as_tensor(self.extraction.erase_mask(rows, length))
            best = self._train_round(model, erase, train_batches, round_index)
            words = extract_words(best[1], best[2], self.entropy_threshold, round_index,
                                  rows=best[0], token_ids=best[3])
            self.extraction.add(words)
            self.round_seconds.append(time.perf_counter() - started)
            self._log_round(round_index, words)
        self.used_rounds = self.rounds
        if self.select_rounds:
            self.used_rounds = self._choose_rounds(model, initial, train_batches, rows, length)
        model.set_weights(initial)
        train_batches.epoch = 0
        self._set_targets(rows, length)
        saved = self._saved_extraction()
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            state = {"rows": rows, "words": json.loads(self.extraction.to_json()),
                     "used_rounds": self.used_rounds}
            saved.write_text(json.dumps(state), encoding="utf-8")
        self._log_summary()

    def _choose_rounds(self, model, initial, train_batches, rows: int, length: int) -> int:
        """Train FINAL-k for k = 0..rounds (targets of rounds 1..k) and return the k with the
        best dev score (the first, so the smaller k, on ties)."""
        import mlflow

        training = self.context.recipe["training"]
        scores = []
        for k in range(self.rounds + 1):
            started = time.perf_counter()
            model.set_weights(initial)
            amask, avalue = self.extraction.up_to(k).targets(rows, length)
            targets = (torch.as_tensor(amask), torch.as_tensor(avalue), float(self.weight))
            self._fit_fresh(model, train_batches, f"pss_final_{k}", training["epochs"],
                            training["patience"], targets=targets)
            scores.append(float(self._last_score))
            self._say(f"PSS FINAL-{k} (words of rounds 1..{k}): best {self.context.monitor} "
                      f"{scores[-1]:.4f} ({time.perf_counter() - started:.1f} s)")
            if mlflow.active_run() is not None:
                mlflow.log_metric(f"pss_final_{self.context.monitor}", scores[-1], step=k)
        better = max if self.context.mode == "max" else min
        chosen = scores.index(better(scores))
        self._say(f"PSS: the final training uses the words of rounds 1..{chosen} (dev)")
        if mlflow.active_run() is not None:
            mlflow.log_metric("pss_used_rounds", float(chosen))
        return chosen

    # --- rounds ---
    def _train_round(self, model, erase, train_batches, round_index: int):
        training = self.context.recipe["training"]
        epochs = self.round_epochs or training["epochs"]
        patience = training["patience"] if self.round_patience < 0 else self.round_patience
        record = self.extract_from == "train_pass"
        best_record = self._fit_fresh(model, train_batches, f"pss_round_{round_index}", epochs,
                                      patience, erase=erase, record=record,
                                      select_by_train=self.round_select == "train_accuracy")
        if self.extract_by == "gradient":
            weigh = saliency_weigher(model, self.saliency_passes, self.saliency_noise, round_index)
            return _inference_pass(model, train_batches, erase, weigh)
        if best_record is None:
            return _inference_pass(model, train_batches, erase)
        rows = sorted(best_record)
        ids = {}
        for index in range(len(train_batches)):
            x = _erase(train_batches[index][0], model.attention_inputs, erase)
            for k, row in enumerate(keras.ops.convert_to_numpy(x[ROW_KEY])):
                ids[int(row)] = keras.ops.convert_to_numpy(x[model.attention_inputs[0]])[k]
        return (rows, [best_record[r][0] for r in rows],
                np.array([best_record[r][1] for r in rows]), [ids[r] for r in rows])

    def _fit_fresh(self, model, train_batches, label: str, epochs: int, patience: int,
                   erase=None, targets=None, record: bool = False, select_by_train: bool = False):
        """Train ``model`` (already at its initial weights) with early stopping on dev (on
        the training pass's accuracy with ``select_by_train``), leave it at the best epoch's
        weights, set ``_last_score`` (that epoch's dev score); return that epoch's recorded
        training-pass attention when ``record``."""
        context = self.context
        trainer = _RowTrainer(model, label)
        trainer.erase_table = erase
        trainer.targets = targets
        trainer.record = {} if record else None
        optimizer = self.trainer.optimizer
        trainer.compile(
            optimizer=optimizer.__class__.from_config(optimizer.get_config()),
            loss=context.task.loss(context.recipe),
            metrics=context.task.keras_metrics(),
        )
        maximise = select_by_train or context.mode == "max"
        better = (lambda a, b: a > b) if maximise else (lambda a, b: a < b)
        best_score, best_weights, best_record, wait = None, None, None, 0
        best_dev = best_epoch = None
        train_batches.epoch = 0
        for epoch in range(epochs):
            history = trainer.fit(train_batches, epochs=1, verbose=0, shuffle=False)
            outputs = context.dev_batches.unsort(model.predict(context.dev_batches, verbose=0))
            scores = context.task.score(context.preprocessor, context.dev_targets, outputs)
            dev_score = scores[context.monitor.removeprefix("dev_")]
            message = f"{context.monitor} {dev_score:.4f}"
            score = dev_score
            if select_by_train:
                if "accuracy" not in history.history:
                    raise ConfigError("strategy.round_select='train_accuracy' needs the task's "
                                      f"accuracy metric; the rounds report {sorted(history.history)}")
                score = float(history.history["accuracy"][-1])
                message = f"train accuracy {score:.4f}, {message}"
            self._say(f"PSS {label.removeprefix('pss_').replace('_', ' ')} epoch {epoch + 1}: "
                      f"{message}")
            if best_score is None or better(score, best_score):
                best_score, best_weights, wait = score, model.get_weights(), 0
                best_dev, best_epoch = dev_score, epoch + 1
                best_record = dict(trainer.record) if trainer.record is not None else None
            else:
                wait += 1
                if wait > patience:
                    break
            if trainer.record is not None:
                trainer.record = {}
        model.set_weights(best_weights)
        self._last_score, self._last_epoch = best_dev, best_epoch
        return best_record

    # --- helpers ---
    def _set_targets(self, rows: int, length: int) -> None:
        amask, avalue = self.extraction.up_to(self.used_rounds).targets(rows, length)
        if self.trainer is not None:
            self.trainer.targets = (torch.as_tensor(amask), torch.as_tensor(avalue),
                                    float(self.weight))

    def _length(self) -> int:
        """The longest sequence a batch may hold (the preprocessor's maximum length)."""
        return int(getattr(self.context.preprocessor, "max_length", 512))

    def _saved_extraction(self) -> Path | None:
        directory = self.context.checkpoint_dir if self.context is not None else None
        return None if directory is None else Path(directory) / EXTRACTION_FILE

    def _say(self, message: str) -> None:
        print(f"[attnkit] {message}", flush=True)

    def _log_round(self, round_index: int, words) -> None:
        import mlflow

        active = sum(word.active for word in words)
        self._say(f"PSS round {round_index}: {active} active, {len(words) - active} misleading "
                  f"words extracted (epoch {self._last_epoch}, {self.round_seconds[-1]:.1f} s)")
        if mlflow.active_run() is None:
            return
        mlflow.log_metrics({
            "pss_round_active_words": float(active),
            "pss_round_misleading_words": float(len(words) - active),
            f"pss_round_{self.context.monitor}": float(self._last_score),
            "pss_round_seconds": self.round_seconds[-1],
        }, step=round_index)
        decode = getattr(self.context.preprocessor, "id_to_token", None)
        lines = ["row\tposition\ttoken\tkind\tentropy"]
        for word in words:
            token = decode(word.token_id) if decode is not None else str(word.token_id)
            kind = "active" if word.active else "misleading"
            lines.append(f"{word.row}\t{word.position}\t{token}\t{kind}\t{word.entropy:.4f}")
        mlflow.log_text("\n".join(lines) + "\n", f"pss/round_{round_index}.tsv")

    def _log_summary(self) -> None:
        import mlflow

        if mlflow.active_run() is None:
            return
        summary = {
            "rounds": self.rounds,
            "entropy_threshold": self.entropy_threshold,
            "weight": self.weight,
            "extract_from": self.extract_from,
            "round_select": self.round_select,
            "select_rounds": self.select_rounds,
            "used_rounds": self.used_rounds,
            "words_per_round": self.extraction.summary(),
            "round_seconds": self.round_seconds,
        }
        mlflow.log_text(json.dumps(summary, indent=2), "pss/summary.json")
        mlflow.log_metric("pss_extraction_seconds", float(sum(self.round_seconds)))
