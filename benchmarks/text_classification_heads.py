"""Compare attention pooling heads (additive, LAMA, multi-head self-attention) on one encoder.

For each dataset, head and seed it runs ``attnkit.fit`` on the dataset's recipe with the head
swapped in (model selection on dev; test scored once at the end), then, in one process and
interleaved across heads, measures the attention block's parameters, training throughput
(samples/s over real bucketed batches) and inference latency on raw text (1 and 256 texts).

    python benchmarks/text_classification_heads.py --datasets sst2 agnews --seeds 1 2 3

Results: a table on stdout and JSON in ``benchmarks/results/heads.json``.
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

from attnkit.pipelines import fit, load_recipe
from attnkit.tasks.registry import get_model_builder, get_task

DATASETS = {
    "sst2": ("sst2-lama", "../shared/data/sst2"),
    "agnews": ("agnews-lama", "../shared/data/ag-news"),
}
HEADS = {
    "additive": ["model.head=additive"],
    "lama": ["model.head=lama"],
    "mhsa": ["model.head=mhsa"],
    "lama-token-mlp": ["model.head=lama", "model.token_mlp=true"],
}
DEFAULT_HEADS = ["additive", "lama", "mhsa"]


def quality_runs(dataset: str, data: str, heads: list[str], seeds: list[int], extra: list[str]) -> list[dict]:
    recipe, _ = DATASETS[dataset]
    runs = []
    for head in heads:
        for seed in seeds:
            overrides = [f"seed={seed}", *HEADS[head], *extra]
            started = time.perf_counter()
            result = fit(recipe, data=data, overrides=overrides, experiment=f"bench-heads-{dataset}", verbose=2)
            runs.append({"dataset": dataset, "head": head, "seed": seed, "run_id": result.run_id,
                         "wall_seconds": time.perf_counter() - started, **result.metrics})
            print(f"[bench] {dataset} {head} seed {seed}: dev {result.metrics['dev_accuracy']:.4f} "
                  f"test {result.metrics.get('test_accuracy', float('nan')):.4f}", flush=True)
    return runs


def speed_runs(dataset: str, data: str, heads: list[str], extra: list[str], steps: int, rounds: int) -> dict:
    """Params of the attention block, train samples/s and raw-text inference latency per head."""
    recipe = load_recipe(DATASETS[dataset][0], extra)
    task = get_task(recipe["task"])
    splits = task.read_splits(Path(data), recipe["data"], recipe["seed"])
    pre = task.fit_preprocessor(splits["train"], recipe["preprocess"])
    batches = task.batches(pre, splits["train"], recipe["training"]["batch_size"], True, 0)
    sample = [batches[i] for i in range(steps)]
    texts = splits["dev"].frame["text"].to_list()[:256]
    models = {}
    for head in heads:
        r = load_recipe(DATASETS[dataset][0], [*HEADS[head], *extra])
        params = {k: v for k, v in r["model"].items() if k != "builder"}
        model = get_model_builder(r["task"], r["model"]["builder"])(**params, **task.model_arguments(pre))
        model.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=5.0), loss=task.loss())
        models[head] = model

    class Fixed(keras.utils.PyDataset):
        def __len__(self):
            return len(sample)

        def __getitem__(self, index):
            return sample[index]

    fixed = Fixed()
    examples = sum(len(y) for _, y in sample)
    train_times = {h: [] for h in heads}
    latency_1 = {h: [] for h in heads}
    latency_256 = {h: [] for h in heads}
    from attnkit.pipelines.bundle import LoadedModel

    loaded = {h: LoadedModel(task, m, pre, recipe) for h, m in models.items()}
    for head in heads:  # warm-up
        models[head].fit(fixed, epochs=1, verbose=0)
        loaded[head].predict(texts[:1])
    for _ in range(rounds):
        for head in heads:
            started = time.perf_counter()
            models[head].fit(fixed, epochs=1, verbose=0)
            train_times[head].append(time.perf_counter() - started)
            for k in range(5):
                started = time.perf_counter()
                loaded[head].predict(texts[k : k + 1])
                latency_1[head].append(time.perf_counter() - started)
            started = time.perf_counter()
            loaded[head].predict(texts)
            latency_256[head].append(time.perf_counter() - started)
    return {
        head: {
            "attention_params": int(models[head].attention_layer.count_params()),
            "model_params": int(models[head].count_params()),
            "train_samples_per_s": examples / statistics.median(train_times[head]),
            "latency_1_ms": 1e3 * statistics.median(latency_1[head]),
            "latency_256_ms": 1e3 * statistics.median(latency_256[head]),
        }
        for head in heads
    }


def summarise(runs: list[dict]) -> dict:
    table: dict = {}
    for run in runs:
        table.setdefault((run["dataset"], run["head"]), []).append(run)
    summary = {}
    for (dataset, head), group in table.items():
        entry = {"seeds": [r["seed"] for r in group]}
        for metric in ("dev_accuracy", "test_accuracy", "test_macro_f1", "best_epoch", "wall_seconds"):
            values = [r[metric] for r in group if metric in r]
            if values:
                entry[metric] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                                 "values": values}
        summary[f"{dataset}/{head}"] = entry
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--heads", nargs="+", default=DEFAULT_HEADS, choices=list(HEADS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--sst2", default=DATASETS["sst2"][1], help="folder of the SST-2 data")
    parser.add_argument("--agnews", default=DATASETS["agnews"][1], help="folder of the AG News data")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra recipe override")
    parser.add_argument("--speed-steps", type=int, default=30)
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--output", default="benchmarks/results/heads.json")
    args = parser.parse_args()

    paths = {"sst2": args.sst2, "agnews": args.agnews}
    output = Path(args.output)
    previous = json.loads(output.read_text()) if output.is_file() else {}
    replaced = [] if args.skip_quality else args.datasets
    runs = [r for r in previous.get("runs", []) if r["dataset"] not in replaced]
    speed = {k: v for k, v in previous.get("speed", {}).items() if k not in args.datasets}
    for dataset in args.datasets:
        speed[dataset] = speed_runs(dataset, paths[dataset], args.heads, args.extra, args.speed_steps, args.speed_rounds)
        print(json.dumps({dataset: speed[dataset]}, indent=1), flush=True)
        if not args.skip_quality:
            runs.extend(quality_runs(dataset, paths[dataset], args.heads, args.seeds, args.extra))
        result = {
            "machine": f"{platform.machine()}, {attnkit.backend.device_description()}",
            "date": time.strftime("%Y-%m-%d"), "overrides": args.extra,
            "runs": runs, "summary": summarise(runs), "speed": speed,
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2))

    print(f"\n{'dataset/head':<18}{'dev acc':>16}{'test acc':>16}{'test F1':>16}{'attn params':>13}{'train/s':>10}{'lat1 ms':>9}{'lat256 ms':>10}")
    for key, entry in result["summary"].items():
        dataset, head = key.split("/")
        sp = speed.get(dataset, {}).get(head, {})

        def cell(metric, entry=entry):
            m = entry.get(metric)
            return f"{m['mean']:.4f}±{m['std']:.4f}" if m else "-"

        print(f"{key:<18}{cell('dev_accuracy'):>16}{cell('test_accuracy'):>16}{cell('test_macro_f1'):>16}"
              f"{sp.get('attention_params', 0):>13,}{sp.get('train_samples_per_s', 0):>10.0f}"
              f"{sp.get('latency_1_ms', 0):>9.1f}{sp.get('latency_256_ms', 0):>10.1f}")


if __name__ == "__main__":
    main()
