"""Dev probe: TF-KLD latent sentence vectors (Ji & Eisenstein 2013) for the word-bag scorer.

TF-KLD weights each unigram / bigram feature k by the Kullback-Leibler divergence between
p_k = P(k in one text | k in the other, paraphrase) and q_k = the same for non-paraphrases,
scales each sentence's term counts by it, factorises the sentences x features matrix with NMF
(K latent dimensions) and represents a pair by [v_a + v_b; |v_a - v_b|]. The paper reports
80.4 % accuracy on MSRP test with an SVM on those plus fine-grained overlap features.

For each seed, the recipe's dev split (10% of MSRP train carved with the seed) scores the sign
of a logistic regression fitted on the rest of train (the test set is never read):

- ``counts+bags`` at C 0.1: the scorer as shipped (``preprocess.word_bag_c``);
- ``counts+bags+oof-cosine``: the shipped design plus the cosine of the two texts' TF-KLD
  vectors, out of fold for the training pairs (10 folds);
- ``tfkld`` alone (the latent pair vector plus the cosines of the two texts' TF-KLD vectors and
  of their latent vectors), ``counts+bags+tfkld`` (all of it standardised and added to the
  shipped design) and ``counts+bags+cosines`` (the two cosines only), at C 0.03 / 0.1 / 0.3,
  for each K of ``--dimensions`` (100).

The KLD weights and the factorisation use the training pairs of the seed only (dev sentences
are projected with the fitted NMF, not factorised with it). Except for ``oof-cosine``, the
training pairs' TF-KLD features come from weights fitted on those same pairs' labels, as in
the paper; ``--dimensions`` with no value skips the factorisation.

    python benchmarks/tfkld_scorer_dev.py ../shared/data/msrp --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import attnkit  # noqa: F401  (selects the torch backend before keras is imported)

import numpy as np
import scipy.sparse as sparse
from sklearn.decomposition import NMF
from sklearn.preprocessing import StandardScaler

from attnkit.pipelines.recipes import load_recipe
from attnkit.tasks.registry import get_task
from attnkit.tasks.text_pairs.lexical_features import pair_feature_matrix, words
from attnkit.tasks.text_pairs.word_bags import bag_tokens, design_matrix

from word_bag_scorer_dev import add_dev_scores, train_dev_pairs, write_report

RESULTS = Path(__file__).parent / "results" / "tfkld_scorer_dev.json"


def terms(text: str) -> Counter:
    """Unigram and bigram counts of a text's lower-cased words."""
    tokens = words(text)
    return Counter(tokens) + Counter(" ".join(g) for g in zip(tokens, tokens[1:], strict=False))


def kld_weights(terms_a, terms_b, labels, prior: float = 1.0) -> dict[str, float]:
    """KL(p_k || q_k) per term, p/q estimated from both reading orders with a Beta(prior, prior)
    pseudo-count; a term never seen in a text whose partner has it gets no entry."""
    given = {True: Counter(), False: Counter()}  # term in the conditioning text
    both = {True: Counter(), False: Counter()}  # ... and in the other one too
    for a, b, label in zip(terms_a, terms_b, labels, strict=True):
        for source, other in ((a, b), (b, a)):
            for term in source:
                given[label][term] += 1
                if term in other:
                    both[label][term] += 1
    weights = {}
    for term in set(given[True]) | set(given[False]):
        p = (both[True][term] + prior) / (given[True][term] + 2 * prior)
        q = (both[False][term] + prior) / (given[False][term] + 2 * prior)
        weights[term] = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    return weights


def weighted_matrix(texts_terms, index: dict[str, int], weights: np.ndarray):
    rows, columns, values = [], [], []
    for row, counts in enumerate(texts_terms):
        for term, count in counts.items():
            if term in index:
                rows.append(row)
                columns.append(index[term])
                values.append(count * weights[index[term]])
    return sparse.csr_matrix((values, (rows, columns)), shape=(len(texts_terms), len(index)))


def tfkld_pair_vectors(pairs, labels, dimensions: int, seed: int) -> dict[str, np.ndarray]:
    terms_of = {n: ([terms(t) for t in a], [terms(t) for t in b]) for n, (a, b) in pairs.items()}
    kld = kld_weights(*terms_of["train"], labels["train"])
    vocabulary = sorted(kld)
    index = {t: i for i, t in enumerate(vocabulary)}
    weights = np.array([kld[t] for t in vocabulary])
    nmf = NMF(n_components=dimensions, init="nndsvda", max_iter=400, random_state=seed)
    train_a, train_b = (weighted_matrix(x, index, weights) for x in terms_of["train"])
    nmf.fit(sparse.vstack([train_a, train_b]))
    vectors = {}
    for name, (ta, tb) in terms_of.items():
        wa, wb = weighted_matrix(ta, index, weights), weighted_matrix(tb, index, weights)
        va, vb = nmf.transform(wa), nmf.transform(wb)
        vectors[name] = np.hstack([va + vb, np.abs(va - vb), _cosines(wa, wb), _cosines(va, vb)])
    return vectors


def _cosines(a, b) -> np.ndarray:
    """Row-wise cosine of two (sparse or dense) matrices, as a column."""
    dot = np.asarray(a.multiply(b).sum(1)).ravel() if sparse.issparse(a) else (a * b).sum(1)
    norm_a = np.sqrt(np.asarray(a.multiply(a).sum(1)).ravel() if sparse.issparse(a) else (a * a).sum(1))
    norm_b = np.sqrt(np.asarray(b.multiply(b).sum(1)).ravel() if sparse.issparse(b) else (b * b).sum(1))
    return (dot / np.maximum(norm_a * norm_b, 1e-12))[:, None]


def out_of_fold_cosines(pairs, labels, folds: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """The cosine of the two texts' TF-KLD vectors; training pairs get it from KLD weights of
    the other folds (in-sample weights make it look better on train than anywhere else)."""
    terms_of = {n: ([terms(t) for t in a], [terms(t) for t in b]) for n, (a, b) in pairs.items()}

    def cosines(kld: dict[str, float], ta, tb) -> np.ndarray:
        index = {t: i for i, t in enumerate(sorted(kld))}
        weights = np.array([kld[t] for t in sorted(kld)])
        return _cosines(weighted_matrix(ta, index, weights), weighted_matrix(tb, index, weights))

    train_a, train_b = terms_of["train"]
    fold_of = np.random.default_rng(seed).permutation(len(train_a)) % folds
    out = {"train": np.zeros((len(train_a), 1))}
    for fold in range(folds):
        fit, held = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        kld = kld_weights([train_a[i] for i in fit], [train_b[i] for i in fit], labels["train"][fit])
        out["train"][held] = cosines(kld, [train_a[i] for i in held], [train_b[i] for i in held])
    kld = kld_weights(train_a, train_b, labels["train"])
    for name in terms_of.keys() - {"train"}:
        out[name] = cosines(kld, *terms_of[name])
    return out


def seed_blocks(task, recipe: dict, data: str, seed: int, dimensions: tuple[int, ...]):
    pairs, labels = train_dev_pairs(task, recipe, data, seed)
    counts = {n: pair_feature_matrix(*p).astype("float64") for n, p in pairs.items()}
    bags = {n: [bag_tokens(a, b) for a, b in zip(*p, strict=True)] for n, p in pairs.items()}
    seen = Counter(token for bag in bags["train"] for token in bag)
    index = {t: i for i, t in enumerate(sorted(t for t, n in seen.items() if n >= 2))}
    mean, scale = counts["train"].mean(0), counts["train"].std(0)
    scale = np.where(scale > 0, scale, 1.0)
    shipped = {n: design_matrix(bags[n], counts[n], index, mean, scale) for n in pairs}
    blocks = {"counts+bags": shipped}
    cosine = out_of_fold_cosines(pairs, labels, seed=seed)
    scaler = StandardScaler().fit(cosine["train"])
    blocks["counts+bags+oof-cosine"] = {
        n: sparse.hstack([shipped[n], sparse.csr_matrix(scaler.transform(cosine[n]))]).tocsr()
        for n in pairs
    }
    for k in dimensions:
        started = time.perf_counter()
        latent = tfkld_pair_vectors(pairs, labels, k, seed)
        scaler = StandardScaler().fit(latent["train"])
        latent = {n: sparse.csr_matrix(scaler.transform(v)) for n, v in latent.items()}
        blocks[f"tfkld{k}"] = latent
        blocks[f"counts+bags+tfkld{k}"] = {
            n: sparse.hstack([shipped[n], latent[n]]).tocsr() for n in pairs
        }
        blocks[f"counts+bags+cosines{k}"] = {  # only the two TF-KLD cosines (sparse, latent)
            n: sparse.hstack([shipped[n], latent[n][:, -2:]]).tocsr() for n in pairs
        }
        print(f"  seed {seed}: TF-KLD K={k} in {time.perf_counter() - started:.0f} s", flush=True)
    return blocks, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="../shared/data/msrp")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--dimensions", nargs="*", type=int, default=[100])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    recipe = load_recipe("msrp-plagiarism-noDE")
    task = get_task(recipe["task"])
    scores: dict[tuple[str, float], list[float]] = {}
    for seed in args.seeds:
        blocks, labels = seed_blocks(task, recipe, args.data, seed, tuple(args.dimensions))
        add_dev_scores(scores, blocks, labels,
                       lambda name: (0.1,) if name == "counts+bags" else (0.03, 0.1, 0.3))
        print(f"seed {seed} done", flush=True)
    write_report(scores, args.seeds, args.results)


if __name__ == "__main__":
    main()
