"""Trains a tiny classifier with plain SGD, in one process or as one rank under torchrun.

``test_distributed.py`` runs it both ways and compares: two data-parallel ranks must reach
the same weights (and epoch losses) as one process that sees every batch whole.

    python -m torch.distributed.run --standalone --nproc-per-node 2 ddp_worker.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import attnkit  # noqa: F401  (selects the torch backend before anything imports keras)
from attnkit.data.batches import BucketedBatches
from attnkit.data.shards import ShardedBatches
from attnkit.pipelines import data_parallel
from attnkit.pipelines.distributed import ProcessGroup, exit_after_leaving, join
from attnkit.tasks.text_classification.model import TextClassifier

EXAMPLES, BATCH, EPOCHS, VOCABULARY = 96, 16, 4, 40
#: Rank 0 (like fit's early stopping) decides to stop after this many epochs; the others
#: must follow, or they would wait forever in the next epoch's first all-reduce.
STOP_AFTER = 3
#: Rank 0 (like fit's plateau cut) halves the learning rate after the first epoch; the others
#: must adopt it, or their optimizer steps (and so their weights) would drift apart.
CUT_AFTER = 1


def train(group: ProcessGroup | None, out: Path) -> None:
    """Train and write ``<name>.npz`` (weights) and ``<name>.json`` (epoch losses) to ``out``."""
    import keras

    # Rank 1 starts from other weights than rank 0: the broadcast must replace them.
    keras.utils.set_random_seed(0 if group is None else 1000 * group.rank)
    rng = np.random.default_rng(0)
    tokens = [list(rng.integers(1, VOCABULARY, rng.integers(3, 12))) for _ in range(EXAMPLES)]
    labels = rng.integers(0, 2, EXAMPLES)
    batches = BucketedBatches({"token_ids": tokens}, labels, BATCH, shuffle=True, seed=0)
    model = TextClassifier(
        vocabulary_size=VOCABULARY,
        num_classes=2,
        embedding_dim=8,
        units=4,
        head="lama",
        num_heads=2,
        dropout=0.0,
    )
    trainer = model if group is None else data_parallel.DataParallelTrainer(model, group)
    trainer.compile(
        optimizer=keras.optimizers.SGD(0.5, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if group is not None:
        batches = ShardedBatches(batches, group.rank, group.world_size)
        data_parallel.synchronize(trainer, group, batches[0][0])

    def decide(epoch: int, logs: dict) -> None:
        if epoch + 1 == CUT_AFTER:
            trainer.optimizer.learning_rate = 0.5 * float(trainer.optimizer.learning_rate)
        trainer.stop_training = epoch + 1 >= STOP_AFTER

    stop = keras.callbacks.LambdaCallback(on_epoch_end=decide)
    history = trainer.fit(
        batches,
        epochs=EPOCHS,
        shuffle=False,
        verbose=0,
        callbacks=data_parallel.callbacks(group, [stop] if group is None or group.is_main else []),
    )
    name = "single" if group is None else f"rank{group.rank}"
    np.savez(out / f"{name}.npz", *model.get_weights())
    (out / f"{name}.json").write_text(json.dumps(history.history["loss"]), encoding="utf-8")


if __name__ == "__main__":
    train(join(), Path(sys.argv[1]))
    # Like ``attnkit fit --distributed``: leave the group and skip C++ static destructors,
    # which can abort a finished gloo rank ("terminate called without an active exception").
    exit_after_leaving(0)
