"""DARE / TWIN parity with the official code on the fixed ML-100K rows of
``../shared/data/dare-parity-ml100k`` (built with the official data preparation).

Settings of the official Taobao script, as the data's README ran it: embedding 16 per field
(item, category, time), top-k 20, soft search, auxiliary loss, cross feature, Adam lr 0.01
(eps 1e-8, PyTorch's), L2 1e-6 on non-embedding non-bias weights, 2 epochs, batch 195, the
training rows in file order (the official loader does not shuffle), validation AUC every
``--eval-every`` iterations and at the end, the best-validation weights scored on test.
Every seed re-initialises the model (``init=official``: N(0, 0.01) for every non-bias weight).

Deliberate difference: attnkit's BatchNorm uses its moving statistics at evaluation; the
official code leaves it in training mode (batch statistics). ``--batch-stats`` reproduces the
official behaviour for comparison.

Also recorded: ms per training iteration (``train_on_batch``, batch 195, averaged over the
run, validation excluded); ``--speed`` times inference forward passes at batch 256 with
synthetic ids at N = 200, 1000, 5000. On a shared machine these vary with its load;
``benchmarks/dare_speed.py parity`` is the speed measurement reported.

Results go to ``results/dare_parity.json`` (runs already there are skipped).

    OMP_NUM_THREADS=1 python benchmarks/dare_parity.py --seeds 1 2 3 4 5 6 7 8 9 10
    OMP_NUM_THREADS=1 python benchmarks/dare_parity.py --config bn-batch --batch-stats --seeds 1 2 3
    python benchmarks/dare_parity.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import attnkit  # noqa: E402,F401  (selects the torch backend)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from attnkit.recsys.metrics import ctr_metrics  # noqa: E402
from attnkit.recsys.model import LongSequenceCTR  # noqa: E402
from attnkit.seeding import seed_everything  # noqa: E402

DATA = Path("../shared/data/dare-parity-ml100k")
RESULTS = Path(__file__).parent / "results" / "dare_parity.json"
OFFICIAL = {"dare": (0.7009, 0.0107), "twin": (0.7001, 0.0088)}
OFFICIAL_TRAIN_MS = 42.0
OFFICIAL_FORWARD_MS = {200: (21.0, 33.0), 1000: (147.0, 147.0), 5000: (684.0, 722.0)}
ITEMS, CATEGORIES, LENGTH = 1683, 20, 100


def load(split: str) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    data = np.load(DATA / f"{split}.npz")
    inputs = {
        "history_items": data["hist_iid"].astype("int64"),
        "history_categories": data["hist_cid"].astype("int64"),
        "item": data["iid"].astype("int64"),
        "category": data["cid"].astype("int64"),
    }
    return inputs, data["label"].astype("float32"), data["uid"]


def rows(inputs: dict, start: int, stop: int) -> dict:
    return {name: torch.from_numpy(values[start:stop]) for name, values in inputs.items()}


def build(variant: str, args, length: int = LENGTH) -> LongSequenceCTR:
    model = LongSequenceCTR(
        ITEMS, CATEGORIES, length, variant=variant, item_dim=16, category_dim=16, time_dim=16,
        top_k=20, cross_feature=True, auxiliary_loss=True, l2=1e-6, init=args.init,
        batch_stats_at_inference=args.batch_stats,
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01, epsilon=1e-8),
                  loss=keras.losses.BinaryCrossentropy())
    return model


def predict(model, inputs: dict, batch: int) -> np.ndarray:
    size = len(inputs["item"])
    parts = [keras.ops.convert_to_numpy(model.predict_on_batch(rows(inputs, i, i + batch)))
             for i in range(0, size - size % batch or size, batch)]  # official drops the rest
    return np.concatenate(parts)


def run(variant: str, seed: int, args) -> dict:
    seed_everything(seed)
    train, train_y, _ = load("train")
    val, val_y, val_users = load("val")
    test, test_y, test_users = load("test")
    model = build(variant, args)
    batch = args.batch_size
    best_auc, best_weights, best_iteration, iteration, history = -1.0, None, 0, 0, []
    train_seconds = 0.0
    steps = len(train_y) // batch
    for _epoch in range(args.epochs):
        for step in range(steps):
            x = rows(train, step * batch, (step + 1) * batch)
            y = torch.from_numpy(train_y[step * batch:(step + 1) * batch])
            started = time.perf_counter()
            model.train_on_batch(x, y)
            train_seconds += time.perf_counter() - started
            iteration += 1
            if iteration % args.eval_every == 0 or iteration == steps * args.epochs:
                scores = predict(model, val, batch)
                auc = ctr_metrics(val_y[: len(scores)], scores)["auc"]
                history.append((iteration, round(auc, 5)))
                if auc > best_auc:
                    best_auc, best_iteration = auc, iteration
                    best_weights = [w.copy() for w in model.get_weights()]
    model.set_weights(best_weights)
    scores = predict(model, test, batch)
    test_metrics = ctr_metrics(test_y[: len(scores)], scores, test_users[: len(scores)])
    return {
        "variant": variant, "seed": seed, "val_auc": best_auc, "best_iteration": best_iteration,
        "test_auc": test_metrics["auc"], "test_gauc": test_metrics["gauc"],
        "test_logloss": test_metrics["logloss"], "iterations": iteration,
        "ms_per_iteration": 1000 * train_seconds / iteration, "validation": history,
    }


def forward_speed(args) -> dict:
    """Inference forward at batch 256 with synthetic ids, median of ``repeats`` calls."""
    out = {}
    rng = np.random.default_rng(0)
    for length in (200, 1000, 5000):
        times = {}
        for variant in ("dare", "twin"):
            seed_everything(0)
            model = build(variant, args, length=length)
            x = {
                "history_items": torch.from_numpy(rng.integers(1, ITEMS, (256, length))),
                "history_categories": torch.from_numpy(rng.integers(1, CATEGORIES, (256, length))),
                "item": torch.from_numpy(rng.integers(1, ITEMS, 256)),
                "category": torch.from_numpy(rng.integers(1, CATEGORIES, 256)),
            }
            with torch.no_grad():
                model(x)
                samples = []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    model(x)
                    samples.append(time.perf_counter() - started)
            times[variant] = 1000 * statistics.median(samples)
        low, high = OFFICIAL_FORWARD_MS[length]
        out[str(length)] = {**{f"{v}_ms": round(t, 2) for v, t in times.items()},
                            "official_ms": [low, high],
                            "speedup_vs_official_low": round(low / max(times.values()), 2)}
    return out


def summarise(result: dict) -> dict:
    summary = {}
    for key in sorted({f"{r['config']}/{r['variant']}" for r in result["runs"]}):
        config, variant = key.split("/")
        runs = [r for r in result["runs"] if r["config"] == config and r["variant"] == variant]
        entry = {"seeds": [r["seed"] for r in runs]}
        for metric in ("test_auc", "test_gauc", "test_logloss", "val_auc", "ms_per_iteration"):
            values = [r[metric] for r in runs]
            entry[metric] = {"mean": statistics.mean(values),
                             "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                             "min": min(values), "max": max(values)}
        official = OFFICIAL[variant]
        entry["official_test_auc"] = {"mean": official[0], "std": official[1]}
        entry["train_speedup_vs_official"] = OFFICIAL_TRAIN_MS / entry["ms_per_iteration"]["mean"]
        summary[key] = entry
    return summary


def report(result: dict) -> str:
    lines = ["| config | model | seeds | test AUC mean ± std (min..max) | official | val AUC | "
             "test GAUC | test logloss | mean ms/iter during the run (shared machine) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, e in result["summary"].items():
        config, variant = key.split("/")
        t = e["test_auc"]
        lines.append(
            f"| {config} | {variant} | {len(e['seeds'])} | {t['mean']:.4f} ± {t['std']:.4f} "
            f"({t['min']:.4f}..{t['max']:.4f}) | {e['official_test_auc']['mean']:.4f} ± "
            f"{e['official_test_auc']['std']:.4f} | {e['val_auc']['mean']:.4f} | "
            f"{e['test_gauc']['mean']:.4f} | {e['test_logloss']['mean']:.4f} | "
            f"{e['ms_per_iteration']['mean']:.1f} |")
    if result.get("forward"):
        lines += ["", "| N | DARE ms | TWIN ms | official ms | speed-up vs official (fastest official, slower model) |",
                  "|---|---|---|---|---|"]
        for length, e in result["forward"].items():
            lines.append(f"| {length} | {e['dare_ms']:.1f} | {e['twin_ms']:.1f} | "
                         f"{e['official_ms'][0]:.0f}-{e['official_ms'][1]:.0f} | "
                         f"{e['speedup_vs_official_low']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["dare", "twin"])
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 11)))
    parser.add_argument("--config", default="default", help="label of this configuration")
    parser.add_argument("--init", default="official", choices=["official", "standard"])
    parser.add_argument("--batch-stats", action="store_true",
                        help="BatchNorm with batch statistics at evaluation (official behaviour)")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=195)
    parser.add_argument("--speed", action="store_true", help="also time forward passes")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    result = json.loads(args.results.read_text()) if args.results.exists() else {"runs": []}
    if args.report:
        print(report(result))
        return
    result.update({"machine": f"{platform.processor() or platform.machine()}, "
                              f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
                   "date": str(date.today()), "data": str(DATA)})
    done = {(r["config"], r["variant"], r["seed"]) for r in result["runs"]}
    for variant in args.models:
        for seed in args.seeds:
            if (args.config, variant, seed) in done:
                continue
            entry = {"config": args.config, "init": args.init, "batch_stats": args.batch_stats,
                     "eval_every": args.eval_every, **run(variant, seed, args)}
            result["runs"].append(entry)
            result["summary"] = summarise(result)
            args.results.parent.mkdir(parents=True, exist_ok=True)
            args.results.write_text(json.dumps(result, indent=1))
            print(f"{args.config} {variant} seed {seed}: val {entry['val_auc']:.4f} "
                  f"test {entry['test_auc']:.4f} ({entry['ms_per_iteration']:.1f} ms/iter)",
                  flush=True)
    if args.speed:
        result["forward"] = forward_speed(args)
        args.results.write_text(json.dumps(result, indent=1))
    if result["runs"]:
        result["summary"] = summarise(result)
        args.results.write_text(json.dumps(result, indent=1))
        print(report(result))


if __name__ == "__main__":
    main()
