"""Labelled batches with an unlabelled batch riding along (semi-supervised training).

Each labelled batch ``(inputs, labels)`` becomes ``({**inputs, "__unlabelled__": u}, labels)``
where ``u`` is the next unlabelled batch; the unlabelled stream cycles (reshuffled on each
pass) however long or short it is. The trainer of a strategy with ``uses_unlabelled`` splits
them again (``attnkit.training.perturbation_trainer.split_unlabelled``).

Example:
    >>> labelled = BucketedBatches({"token_ids": [[3, 4], [5]]}, [0, 1], batch_size=2)
    >>> unlabelled = BucketedBatches({"token_ids": [[6], [7], [8]]}, None, batch_size=2)
    >>> x, y = InterleavedBatches(labelled, unlabelled)[0]
    >>> sorted(x)
    ['__unlabelled__', 'token_ids']
"""

from __future__ import annotations

import keras

from attnkit.data.batches import BucketedBatches

UNLABELLED_KEY = "__unlabelled__"


class InterleavedBatches(keras.utils.PyDataset):
    """``labelled`` batches, each carrying one batch of ``unlabelled`` inputs."""

    def __init__(self, labelled: BucketedBatches, unlabelled: BucketedBatches) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        if len(unlabelled) == 0:
            raise ValueError("the unlabelled data gave no batches")
        self.labelled = labelled
        self.unlabelled = unlabelled

    def __len__(self) -> int:
        return len(self.labelled)

    @property
    def num_batches(self) -> int:
        return len(self.labelled)

    def _unlabelled_batch(self, index: int):
        # Position in the endless unlabelled stream; each full pass uses a new shuffle.
        position = self.labelled.epoch * len(self.labelled) + index
        cycle, offset = divmod(position, len(self.unlabelled))
        if self.unlabelled.epoch != cycle:
            self.unlabelled.epoch = cycle
        return self.unlabelled[offset][0]

    def __getitem__(self, index: int):
        inputs, labels = self.labelled[index]
        return {**inputs, UNLABELLED_KEY: self._unlabelled_batch(index)}, labels

    @property
    def epoch(self) -> int:
        return self.labelled.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.labelled.epoch = value

    def on_epoch_end(self) -> None:
        self.labelled.on_epoch_end()
