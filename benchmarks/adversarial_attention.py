"""Adversarial training on attention (vanilla, AT, iAT, VAT, iVAT): quality and interpretability.

For each dataset, strategy, epsilon and seed it runs ``attnkit.fit`` on the shipped recipe
``<dataset>-bilstm-<strategy>`` (BiLSTM 128/direction + additive attention; model selection on
dev AUC, test scored once at the end) and records accuracy, macro-F1, AUC and the
attention/gradient agreement (Pearson, Kendall tau) on the test set. VAT/iVAT use the
recipes' unlabelled text (the GLUE SST-2 phrases; the other two AG News classes).

Results are appended to ``results/adversarial_attention_<dataset>.json`` after every run, and
runs already there are skipped, so an interrupted benchmark continues where it stopped (and
the two datasets can run in two processes at once).

    python benchmarks/adversarial_attention.py --datasets sst2 agnews2 --strategies vanilla at iat --seeds 0 1 2
    python benchmarks/adversarial_attention.py --datasets sst2 --strategies at iat --epsilons 0.1 5 --seeds 0
    python benchmarks/adversarial_attention.py --report

``--report`` prints the table of every dataset's results.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import attnkit  # noqa: F401  (selects the torch backend before keras is imported)

from attnkit.backend import device_description
from attnkit.pipelines import fit

DATA = {"sst2": "../shared/data/sst2", "agnews2": "../shared/data/ag-news"}
STRATEGIES = ("vanilla", "at", "iat", "vat", "ivat")
RESULTS = Path(__file__).parent / "results"
METRICS = ("test_accuracy", "test_macro_f1", "test_auc", "test_attention_gradient_pearson",
           "test_attention_gradient_kendall_tau", "dev_accuracy", "dev_auc",
           "dev_attention_gradient_pearson", "dev_attention_gradient_kendall_tau")


def _key(run: dict) -> tuple:
    return run["dataset"], run["strategy"], run["epsilon"], run["seed"]


def load_runs(path: Path) -> list[dict]:
    return json.loads(path.read_text())["runs"] if path.exists() else []


def save_runs(path: Path, runs: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": f"{platform.processor() or platform.machine()}; {device_description()}",
               "runs": runs}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(payload, indent=1))
    temporary.replace(path)


def run_one(dataset: str, data: str, strategy: str, epsilon: float | None, seed: int, extra: list[str]) -> dict:
    overrides = [f"seed={seed}", *extra]
    if strategy != "vanilla":
        overrides.append(f"strategy.epsilon={epsilon}")
    started = time.perf_counter()
    result = fit(f"{dataset}-bilstm-{strategy}", data=data, overrides=overrides,
                 experiment=f"bench-adversarial-{dataset}", verbose=2)
    return {"dataset": dataset, "strategy": strategy, "epsilon": epsilon, "seed": seed,
            "run_id": result.run_id, "wall_seconds": time.perf_counter() - started,
            **{name: result.metrics.get(name) for name in (*METRICS, "best_epoch")},
            "overrides": extra}  # the --set values, so probe files say what they probed


def report(runs: list[dict]) -> str:
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["dataset"], run["strategy"], run["epsilon"]), []).append(run)
    lines = ["| data | strategy | eps | seeds | test acc | test macro-F1 | test AUC | "
             "att/grad Pearson | att/grad Kendall | dev acc | dev att/grad Pearson | wall s/run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (dataset, strategy, epsilon), group in sorted(groups.items(), key=lambda kv: (
            kv[0][0], STRATEGIES.index(kv[0][1]), kv[0][2] or 0)):
        def cell(name: str, scale: float = 100.0, group: list[dict] = group) -> str:
            values = [run[name] * scale for run in group if run.get(name) is not None]
            if not values:
                return "-"
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.2f} ± {spread:.2f}"
        wall = statistics.mean(run["wall_seconds"] for run in group)
        lines.append(
            f"| {dataset} | {strategy} | {epsilon if epsilon is not None else '-'} | {len(group)} | "
            f"{cell('test_accuracy')} | {cell('test_macro_f1')} | {cell('test_auc')} | "
            f"{cell('test_attention_gradient_pearson', 1.0)} | "
            f"{cell('test_attention_gradient_kendall_tau', 1.0)} | {cell('dev_accuracy')} | "
            f"{cell('dev_attention_gradient_pearson', 1.0)} | {wall:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--epsilons", nargs="+", type=float, default=[1.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data-root", help="folder holding sst2/ and ag-news/ (default ../shared/data)")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra recipe override")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the JSON files")
    parser.add_argument("--report", action="store_true", help="only print the tables from --output")
    args = parser.parse_args()

    if not args.report:
        for dataset in args.datasets:
            output = args.results / f"adversarial_attention_{dataset}.json"
            runs = load_runs(output)
            done = {_key(run) for run in runs}
            data = DATA[dataset]
            if args.data_root:
                data = str(Path(args.data_root) / Path(data).name)
            for seed in args.seeds:
                for strategy in args.strategies:
                    for epsilon in [None] if strategy == "vanilla" else args.epsilons:
                        if (dataset, strategy, epsilon, seed) in done:
                            continue
                        run = run_one(dataset, data, strategy, epsilon, seed, args.extra)
                        runs.append(run)
                        save_runs(output, runs)
                        print(f"[bench] {dataset} {strategy} eps={epsilon} seed {seed}: "
                              f"test acc {run['test_accuracy']:.4f} "
                              f"pearson {run['test_attention_gradient_pearson']:.3f} "
                              f"(dev acc {run['dev_accuracy']:.4f} "
                              f"pearson {run['dev_attention_gradient_pearson']:.3f}) "
                              f"({run['wall_seconds']:.0f} s)", flush=True)
    every = [run for path in sorted(args.results.glob("adversarial_attention_*.json"))
             for run in load_runs(path)]
    print(report(every))


if __name__ == "__main__":
    main()
