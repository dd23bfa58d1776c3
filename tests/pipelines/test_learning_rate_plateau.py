"""``training.reduce_lr_factor``: the learning rate is cut when the dev metric stalls, the
counters survive a resume, the cut rate is what the checkpoint holds, and bad settings are
refused before training."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from attnkit.errors import ConfigError
from attnkit.pipelines import cli
from attnkit.pipelines.checkpoints import restore_training_state, save_training_state
from attnkit.pipelines.learning_rate_plateau import ReduceLearningRateOnPlateau


def _model(rate: float = 1e-2) -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0)  # builds the optimizer
    return model


def _callback(state: dict, mode: str = "max", patience: int = 2, floor: float = 0.0,
              said: list | None = None) -> ReduceLearningRateOnPlateau:
    say = said.append if said is not None else (lambda _: None)
    return ReduceLearningRateOnPlateau("dev_accuracy" if mode == "max" else "dev_loss", mode,
                                       factor=0.5, patience=patience, min_learning_rate=floor,
                                       state=state, say=say)  # fmt: skip


def _rates(callback: ReduceLearningRateOnPlateau, model: keras.Model, values: list[float],
           start: int = 0) -> list[float]:
    callback.set_model(model)
    rates = []
    for epoch, value in enumerate(values, start=start):
        logs = {callback.monitor: value}
        callback.on_epoch_end(epoch, logs)
        rates.append(round(logs["learning_rate"], 8))
    return rates


def test_the_rate_is_cut_after_patience_epochs_without_gain() -> None:
    said: list[str] = []
    rates = _rates(_callback({}, said=said), _model(), [0.5, 0.6, 0.6, 0.55, 0.7, 0.6, 0.6])
    # 0.6 ties the best (no gain); two such epochs cut once; a new best resets the count.
    assert rates == [0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025]
    assert said == ["dev_accuracy has not improved for 2 epochs: learning rate 0.01 -> 0.005",
                    "dev_accuracy has not improved for 2 epochs: learning rate 0.005 -> 0.0025"]


def test_lower_is_better_for_a_loss_and_the_floor_holds() -> None:
    rates = _rates(_callback({}, mode="min", patience=1, floor=0.004), _model(),
                   [1.0, 0.9, 0.95, 0.95, 0.95])
    assert rates == [0.01, 0.01, 0.005, 0.004, 0.004]


def test_a_resumed_run_continues_the_count_from_the_state(tmp_path: Path) -> None:
    """The counters live in fit's state and the rate in the optimizer's checkpointed
    variables, so an interrupted run cuts exactly when an uninterrupted one would."""
    values = [0.5, 0.6, 0.6, 0.6, 0.6]
    uninterrupted = _rates(_callback({}), _model(), values)

    state: dict = {}
    first = _model()
    before = _rates(_callback(state), first, values[:4])
    save_training_state(tmp_path, first, json.loads(json.dumps(state)))
    restored_state = json.loads((tmp_path / "state.json").read_text())
    second = _model(rate=1e-2)  # a fresh process: the recipe's initial rate
    restore_training_state(tmp_path, second)
    assert float(second.optimizer.learning_rate) == pytest.approx(before[-1])
    after = _rates(_callback(restored_state), second, values[4:], start=4)
    assert before + after == uninterrupted == [0.01, 0.01, 0.01, 0.005, 0.005]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("reduce_lr_factor", 1.5, "training.reduce_lr_factor must be between 0 and 1"),
    ("reduce_lr_patience", 0, "training.reduce_lr_patience must be >= 1 epoch, got 0"),
    ("min_learning_rate", -1e-4, "training.min_learning_rate must be >= 0"),
])
def test_bad_settings_name_their_field(field: str, value: float, message: str) -> None:
    settings = {"factor": 0.5, "patience": 1, "min_learning_rate": 0.0}
    settings[{"reduce_lr_factor": "factor", "reduce_lr_patience": "patience"}.get(field, field)] = value
    with pytest.raises(ConfigError, match=message):
        ReduceLearningRateOnPlateau("dev_accuracy", "max", state={}, **settings)


@pytest.mark.slow
@pytest.mark.usefixtures("mlflow_db")
def test_fit_cuts_the_rate_logs_it_and_refuses_a_bad_factor(
    capsys, sample_dir: Path, tiny_overrides
) -> None:
    # At a rate of 1e-9 the predictions cannot change, so dev accuracy never improves after
    # the first epoch and every later epoch cuts (patience 1).
    overrides = [*tiny_overrides, "training.epochs=3", "training.patience=5",
                 "training.learning_rate=1e-9", "training.reduce_lr_factor=0.5"]
    arguments = ["fit", "sample-lama", "--data", str(sample_dir), "--json"]
    code = cli.main([*arguments, *[p for o in overrides for p in ("--set", o)]])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "dev_accuracy has not improved for 1 epoch: learning rate 1e-09 -> 5e-10" in out
    assert "learning rate 5e-10 -> 2.5e-10" in out
    run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
    history = sorted(MlflowClient().get_metric_history(run_id, "learning_rate"), key=lambda m: m.step)
    assert [m.step for m in history] == [0, 1, 2]
    np.testing.assert_allclose([m.value for m in history], [1e-9, 5e-10, 2.5e-10], rtol=1e-5)

    code = cli.main([*arguments, "--set", "training.reduce_lr_factor=2"])
    captured = capsys.readouterr()
    assert code == 2
    assert "training.reduce_lr_factor must be between 0 and 1 (0 turns the cut off), got 2.0" in (
        captured.err)
    assert "Epoch 1" not in captured.out  # refused before any training


@pytest.mark.slow
@pytest.mark.usefixtures("mlflow_db")
@pytest.mark.parametrize("killed_after", [1, 2])
def test_an_interrupted_fit_resumes_with_the_cut_rate_and_count(
    monkeypatch, sample_dir: Path, tiny_overrides, killed_after: int
) -> None:
    """Killed right after the checkpoint of epoch 1 (one epoch without gain counted) or of
    epoch 2 (whose end cut the rate), the resumed fit logs the same rates as one never
    interrupted: the state holds the count, and the checkpoint the cut rate and the epoch's
    metrics, the rate among them."""
    import attnkit
    from attnkit.pipelines.callbacks import CheckpointAndEarlyStop

    overrides = [*tiny_overrides, "training.epochs=4", "training.patience=5",
                 "training.learning_rate=1e-9", "training.reduce_lr_factor=0.5",
                 "training.reduce_lr_patience=2"]
    original = CheckpointAndEarlyStop.on_epoch_end

    def interrupt_after_checkpoint(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == killed_after:
            raise KeyboardInterrupt

    def rates(run_id: str) -> list[float]:
        history = MlflowClient().get_metric_history(run_id, "learning_rate")
        return [m.value for m in sorted(history, key=lambda m: m.step)]

    with monkeypatch.context() as kill:
        kill.setattr(CheckpointAndEarlyStop, "on_epoch_end", interrupt_after_checkpoint)
        with pytest.raises(KeyboardInterrupt):
            attnkit.fit("sample-lama", data=str(sample_dir), overrides=overrides, verbose=0)
    resumed = attnkit.fit("sample-lama", data=str(sample_dir), overrides=overrides, verbose=0)
    assert resumed.resumed_from_epoch == killed_after
    uninterrupted = attnkit.fit("sample-lama", data=str(sample_dir), overrides=overrides,
                                experiment="uninterrupted", verbose=0)
    # patience 2: epochs 1-2 without gain cut at epoch 2's end; epoch 3 is the first of a new count
    expected = [1e-9, 1e-9, 5e-10, 5e-10]
    np.testing.assert_allclose(rates(uninterrupted.run_id), expected, rtol=1e-5)
    np.testing.assert_allclose(rates(resumed.run_id), expected, rtol=1e-5)
