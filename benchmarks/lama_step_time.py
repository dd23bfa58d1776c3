"""Time one training step of attnkit's LAMA classifier against an equivalent pure-PyTorch module.

Both models take their sizes from the ``sst2-lama`` recipe (embedding, frozen or not, BiGRU,
LAMA head with or without the token MLP, learned context, dropout, linear classifier), see
the same real SST-2 batches tokenised by the recipe's preprocessor (bucketed by length,
batch 64), and use Adam with global gradient-norm clipping 5. Rounds alternate between the
two so machine noise hits both; the ratio is the median Keras step over the median torch step.

    python benchmarks/lama_step_time.py --data ../shared/data/sst2 --rounds 7 --steps 30
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import attnkit  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnkit.data.batches import BucketedBatches
from attnkit.data.text_readers import read_text_file
from attnkit.pipelines.recipes import load_recipe
from attnkit.tasks.text_classification import TextClassificationPreprocessor, TextClassifier


class TorchLamaClassifier(nn.Module):
    """The reference: the same LAMA classifier written directly in PyTorch (packed BiGRU)."""

    def __init__(self, vocab: int, embedding: int, units: int, heads: int, classes: int, dropout: float,
                 token_mlp: bool, freeze_embeddings: bool):
        super().__init__()
        dim = 2 * units
        self.embedding = nn.Embedding(vocab, embedding, padding_idx=0)
        self.embedding.weight.requires_grad_(not freeze_embeddings)
        self.gru = nn.GRU(embedding, units, batch_first=True, bidirectional=True)
        self.token_mlp = nn.Linear(dim, dim) if token_mlp else nn.Identity()
        self.context = nn.Parameter(torch.randn(dim) * 0.05)
        self.context_projection = nn.Linear(dim, heads, bias=False)
        self.token_projection = nn.Linear(dim, heads, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(heads * dim, classes)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        mask = token_ids != 0
        lengths = mask.sum(1).clamp(min=1)
        x = self.dropout(self.embedding(token_ids))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.gru(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=token_ids.shape[1])
        h = self.dropout(h)
        u = torch.tanh(self.token_mlp(h)) if isinstance(self.token_mlp, nn.Linear) else h
        scores = torch.tanh(self.context_projection(self.context)[None, None] * self.token_projection(u))
        scores = F.normalize(scores, dim=-1)
        logits = scores.transpose(1, 2).masked_fill(~mask[:, None, :], -1e9)
        structured = logits.softmax(-1) @ h
        return self.classifier(self.dropout(structured.flatten(1)))


def real_batches(data: Path, preprocess: dict, steps: int, batch_size: int, seed: int):
    frame = read_text_file(data / "glue-SST-2" / "train.tsv")
    pre = TextClassificationPreprocessor.fit(frame["text"].to_list(), frame["label"].to_list(), **preprocess)
    ids = pre.encode_texts(frame["text"].to_list())
    labels = np.array([int(v) for v in frame["label"].to_list()], dtype="int32")
    batches = BucketedBatches({"token_ids": ids}, labels, batch_size, shuffle=True, seed=seed)
    return pre.vocabulary_size, [batches[i] for i in range(steps)]


class FixedBatches(keras.utils.PyDataset):
    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--recipe", default="sst2-lama")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override")
    parser.add_argument("--output", default="benchmarks/results/lama_step_time.json")
    args = parser.parse_args()

    attnkit.seed_everything(0)
    recipe = load_recipe(args.recipe, args.overrides)
    m = recipe["model"]
    batch_size = recipe["training"]["batch_size"]
    vocab, batches = real_batches(Path(args.data), recipe["preprocess"], args.steps, batch_size, seed=0)
    sizes = {k: m[k] for k in ("embedding_dim", "units", "num_heads", "token_mlp", "freeze_embeddings", "dropout")}
    keras_model = TextClassifier(vocabulary_size=vocab, num_classes=2, encoder="bigru", head="lama", **sizes)
    keras_model.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=5.0),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    torch_model = TorchLamaClassifier(vocab, m["embedding_dim"], m["units"], m["num_heads"], 2, m["dropout"],
                                      m["token_mlp"], m["freeze_embeddings"])
    optimizer = torch.optim.Adam([p for p in torch_model.parameters() if p.requires_grad], lr=1e-3)
    torch_batches = [(torch.as_tensor(x["token_ids"], dtype=torch.long), torch.as_tensor(y, dtype=torch.long))
                     for x, y in batches]
    dataset = FixedBatches(batches)

    def keras_round() -> float:
        started = time.perf_counter()
        keras_model.fit(dataset, epochs=1, verbose=0)
        return (time.perf_counter() - started) / len(batches)

    def torch_round() -> float:
        torch_model.train()
        started = time.perf_counter()
        for token_ids, labels in torch_batches:
            optimizer.zero_grad()
            loss = F.cross_entropy(torch_model(token_ids), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(torch_model.parameters(), 5.0)
            optimizer.step()
        return (time.perf_counter() - started) / len(batches)

    keras_round(), torch_round()  # warm-up
    keras_times, torch_times = [], []
    for _ in range(args.rounds):
        keras_times.append(keras_round())
        torch_times.append(torch_round())
    keras_ms, torch_ms = statistics.median(keras_times) * 1e3, statistics.median(torch_times) * 1e3
    keras_params = keras_model.count_params()
    keras_trainable = sum(int(np.prod(v.shape)) for v in keras_model.trainable_weights)
    torch_trainable = sum(p.numel() for p in torch_model.parameters() if p.requires_grad)
    torch_params = sum(p.numel() for p in torch_model.parameters())
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
                   f"device {attnkit.backend.device_description()}",
        "date": time.strftime("%Y-%m-%d"),
        "recipe": args.recipe, "overrides": args.overrides,
        "batch_size": batch_size, "steps_per_round": args.steps, "rounds": args.rounds, **sizes,
        "keras_ms_per_step": keras_ms, "torch_ms_per_step": torch_ms, "ratio_keras_over_torch": keras_ms / torch_ms,
        "keras_ms_all_rounds": [t * 1e3 for t in keras_times], "torch_ms_all_rounds": [t * 1e3 for t in torch_times],
        "keras_params": keras_params, "torch_params": torch_params,
        "keras_trainable_params": keras_trainable, "torch_trainable_params": torch_trainable,
    }
    print(f"{'model':<22}{'ms/step (median)':>18}{'params':>12}")
    print(f"{'attnkit (Keras)':<22}{keras_ms:>18.1f}{keras_params:>12,}")
    print(f"{'pure PyTorch':<22}{torch_ms:>18.1f}{torch_params:>12,}")
    print(f"ratio Keras / PyTorch: {keras_ms / torch_ms:.3f}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
