"""DARE against TWIN and DIN on more data: MovieLens-1M (users 1-2999, histories of up to 200)
and the Taobao UserBehavior head sample, same embedding width (16 per field), 3 seeds.

Each run is ``attnkit.fit`` on a shipped recipe (``movielens-{dare,twin,din}``,
``taobao-{dare,twin}``; Taobao DIN is ``taobao-twin`` with ``model.variant=din``,
``model.use_time=false``) with ``seed=<s>``: the seed draws the negatives and the
initialisation; the epoch is chosen on dev AUC. Test AUC, GAUC and log loss are recorded,
with the training time. MLflow runs go to a temporary store.

Results: ``results/dare_quality.json`` (runs already there are skipped).

    OMP_NUM_THREADS=1 python benchmarks/dare_quality.py
    python benchmarks/dare_quality.py --datasets taobao --models dare --seeds 1
    python benchmarks/dare_quality.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import attnkit  # noqa: E402,F401

RESULTS = Path(__file__).parent / "results" / "dare_quality.json"
DATASETS = {
    "movielens": ("../shared/data/movielens-1m-users1-2999",
                  {"dare": ("movielens-dare", []), "twin": ("movielens-twin", []),
                   "din": ("movielens-din", [])}),
    "taobao": ("../shared/data/taobao-userbehavior-head84k",
               {"dare": ("taobao-dare", []), "twin": ("taobao-twin", []),
                "din": ("taobao-twin", ["model.variant=din", "model.use_time=false"])}),
}
METRICS = ("test_auc", "test_gauc", "test_logloss", "dev_auc", "best_epoch")


def run_one(dataset: str, model: str, seed: int, extra: list[str]) -> dict:
    import mlflow

    from attnkit.pipelines import fit

    path, recipes = DATASETS[dataset]
    recipe, overrides = recipes[model]
    with tempfile.TemporaryDirectory() as directory:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{directory}/mlflow.db"
        os.environ["ATTNKIT_HOME"] = f"{directory}/home"
        result = fit(recipe, data=path, overrides=[*overrides, f"seed={seed}", *extra],
                     experiment="dare-quality", verbose=2)
        seconds = mlflow.get_run(result.run_id).data.metrics.get("train_seconds", float("nan"))
    entry = {"dataset": dataset, "model": model, "seed": seed, "recipe": recipe,
             "overrides": [*overrides, *extra], "train_seconds": seconds}
    entry.update({name: result.metrics.get(name) for name in METRICS})
    return entry


def summarise(runs: list[dict]) -> dict:
    summary = {}
    for key in sorted({(r["dataset"], r["model"]) for r in runs}):
        group = [r for r in runs if (r["dataset"], r["model"]) == key]
        entry = {"seeds": [r["seed"] for r in group]}
        for metric in (*METRICS, "train_seconds"):
            values = [r[metric] for r in group if r.get(metric) is not None]
            if values:
                entry[metric] = {"mean": statistics.mean(values),
                                 "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                                 "min": min(values), "max": max(values)}
        summary[f"{key[0]}/{key[1]}"] = entry
    return summary


def report(result: dict) -> str:
    lines = ["| data | model | seeds | test AUC | test GAUC | test log loss | dev AUC | "
             "train s/run |", "|---|---|---|---|---|---|---|---|"]
    for key, e in result["summary"].items():
        dataset, model = key.split("/")
        def cell(m: str, e: dict = e) -> str:
            return f"{e[m]['mean']:.4f} ± {e[m]['std']:.4f}" if m in e else "-"

        lines.append(f"| {dataset} | {model} | {len(e['seeds'])} | {cell('test_auc')} | "
                     f"{cell('test_gauc')} | {cell('test_logloss')} | {cell('dev_auc')} | "
                     f"{e.get('train_seconds', {}).get('mean', float('nan')):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=["dare", "twin", "din"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--set", dest="extra", action="append", default=[])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    result = json.loads(args.results.read_text()) if args.results.exists() else {"runs": []}
    if args.report:
        print(report(result))
        return
    result.update({"machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), "
                              f"torch threads {torch.get_num_threads()}", "date": str(date.today())})
    done = {(r["dataset"], r["model"], r["seed"]) for r in result["runs"]}
    for dataset in args.datasets:
        for seed in args.seeds:
            for model in args.models:
                if (dataset, model, seed) in done:
                    continue
                entry = run_one(dataset, model, seed, args.extra)
                result["runs"].append(entry)
                result["summary"] = summarise(result["runs"])
                args.results.parent.mkdir(parents=True, exist_ok=True)
                args.results.write_text(json.dumps(result, indent=1))
                print(f"{dataset} {model} seed {seed}: test AUC {entry['test_auc']:.4f} "
                      f"GAUC {entry['test_gauc']:.4f}", flush=True)
    print(report(result))


if __name__ == "__main__":
    main()
