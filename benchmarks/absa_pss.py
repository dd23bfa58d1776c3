"""Aspect-based sentiment on SemEval-2014 Restaurants: MemNet and TNet-ATT, with and without
progressive self-supervised attention learning (PSS).

For each model, PSS or not, and seed it runs ``attnkit.fit`` on the shipped recipes
(``semeval14-restaurants-{memnet,tnet}`` and their ``-pss`` versions) with epoch selection on
a dev split carved from the training file with the seed (PSS's extraction rounds select on
the same dev split), and records test accuracy and macro-F1, the wall time of the whole
``fit`` (PSS: extraction rounds included), the extraction rounds' time and the words
extracted per round. The PSS time ratio compares each seed's PSS ``fit`` with its plain one
(the same process, one after the other).

Results go to ``results/absa_pss_<model>.json`` after every run; runs already there are
skipped, so an interrupted benchmark continues where it stopped. ``--report`` prints the
table of every ``results/absa_pss_*.json``.

    OMP_NUM_THREADS=1 python benchmarks/absa_pss.py --models tnet      # 3 seeds, plain + PSS
    OMP_NUM_THREADS=1 python benchmarks/absa_pss.py --models memnet
    python benchmarks/absa_pss.py --models tnet --seeds 0 --set training.epochs=1 \\
        --set strategy.rounds=1 --results /tmp/absa-smoke.json                   # smoke test
    python benchmarks/absa_pss.py --report
    python benchmarks/absa_pss.py --results all.json --merge /tmp/part-*.json  # parallel parts
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import attnkit  # noqa: F401  (selects the torch backend before keras is imported)

import torch

from attnkit.backend import device_description
from attnkit.pipelines import fit

DATA = "../shared/data/semeval14-absa/seg"
RESULTS_DIR = Path(__file__).parent / "results"
MODELS = {"memnet": "semeval14-restaurants-memnet", "tnet": "semeval14-restaurants-tnet"}
METRICS = ("test_accuracy", "test_macro_f1", "dev_accuracy", "dev_macro_f1", "best_epoch")
TARGET_ACCURACY, TARGET_F1 = 0.805, 0.710  # TNet-ATT with PSS (issue 5)
REFERENCE = "released TNet-ATT(+AS) checkpoints: 81.13 acc / 73.56 macro-F1 (PSS repo README)"


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"runs": []}


def save(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    results["machine"] = f"{platform.processor() or platform.machine()}; {device_description()}"
    results["date"] = date.today().isoformat()
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(results, indent=1))
    temporary.replace(path)


def run_one(model: str, pss: bool, seed: int, data: str, extra: list[str]) -> dict:
    import mlflow

    recipe = MODELS[model] + ("-pss" if pss else "")
    if not pss:  # the [strategy] keys exist only with PSS
        extra = [item for item in extra if not item.startswith("strategy.")]
    started = time.perf_counter()
    result = fit(recipe, data=data, overrides=[f"seed={seed}", *extra],
                 experiment="bench-absa-pss", verbose=2, log_model=False)
    wall = time.perf_counter() - started
    run = mlflow.get_run(result.run_id)
    words = {}
    if pss:
        path = mlflow.artifacts.download_artifacts(run_id=result.run_id,
                                                   artifact_path="pss/summary.json")
        words = json.loads(Path(path).read_text())["words_per_round"]
    return {"model": model, "pss": pss, "seed": seed, "run_id": result.run_id,
            "wall_seconds": wall, **{name: result.metrics.get(name) for name in METRICS},
            "train_seconds": run.data.metrics.get("train_seconds"),
            "pss_extraction_seconds": run.data.metrics.get("pss_extraction_seconds"),
            "pss_used_rounds": run.data.metrics.get("pss_used_rounds"),
            "words_per_round": words, "overrides": extra}


def merge(results: dict, paths: list[Path]) -> dict:
    """Add the runs of other results files (e.g. seeds run in parallel processes) that
    ``results`` does not have yet."""
    for path in paths:
        done = {(r["model"], r["pss"], r["seed"]) for r in results["runs"]}
        results["runs"] += [r for r in load(path)["runs"]
                            if (r["model"], r["pss"], r["seed"]) not in done]  # fmt: skip
    return results


def _values(runs: list[dict], key: str, scale: float = 100.0) -> list[float]:
    return [r[key] * scale for r in runs if r.get(key) is not None]


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {spread:.2f}"


def report(runs: list[dict]) -> str:
    lines = ["| model | PSS | seeds | test acc % | test macro-F1 % | dev acc % | best epochs | "
             "fit s (mean) | PSS / plain time |", "|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, bool], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["model"], run["pss"]), []).append(run)
    verdicts = []
    for model in MODELS:
        plain = {r["seed"]: r for r in groups.get((model, False), [])}
        for pss in (False, True):
            group = sorted(groups.get((model, pss), []), key=lambda r: r["seed"])
            if not group:
                continue
            ratio = "-"
            if pss:
                ratios = [r["wall_seconds"] / plain[r["seed"]]["wall_seconds"]
                          for r in group if r["seed"] in plain]
                ratio = f"{statistics.mean(ratios):.1f}x" if ratios else "-"
            lines.append(
                f"| {model} | {'yes' if pss else 'no'} | {len(group)} | "
                f"{_cell(_values(group, 'test_accuracy'))} | {_cell(_values(group, 'test_macro_f1'))} | "
                f"{_cell(_values(group, 'dev_accuracy'))} | "
                f"{', '.join(str(int(r['best_epoch'])) for r in group)} | "
                f"{statistics.mean(r['wall_seconds'] for r in group):.0f} | {ratio} |")
        with_pss, without = groups.get((model, True)), groups.get((model, False))
        if with_pss and without:
            a = statistics.mean(_values(with_pss, "test_accuracy"))
            b = statistics.mean(_values(without, "test_accuracy"))
            verdicts.append(f"- {model}: PSS mean accuracy {a:.2f} vs plain {b:.2f}: "
                            f"{'improves' if a > b else 'does NOT improve'}")
    for model in MODELS:
        group = groups.get((model, True), [])
        if not group:
            continue
        rounds = sorted({int(k) for r in group for k in r["words_per_round"]})
        cells = []
        for k in rounds:
            counts = [r["words_per_round"].get(str(k)) for r in group]
            counts = [c for c in counts if c]
            active = statistics.mean(c["active"] for c in counts)
            misleading = statistics.mean(c["misleading"] for c in counts)
            cells.append(f"round {k}: {active:.0f} active / {misleading:.0f} misleading")
        extraction = statistics.mean(r["pss_extraction_seconds"] or 0.0 for r in group)
        verdicts.append(f"- {model} words extracted per round (mean over seeds): "
                        f"{'; '.join(cells)}; extraction rounds {extraction:.0f} s of the PSS fit")
    tnet = groups.get(("tnet", True))
    if tnet:
        a = statistics.mean(_values(tnet, "test_accuracy"))
        f = statistics.mean(_values(tnet, "test_macro_f1"))
        met = a >= 100 * TARGET_ACCURACY and f >= 100 * TARGET_F1
        verdicts.append(f"- TNet-ATT with PSS: {a:.2f} acc / {f:.2f} macro-F1; target >= "
                        f"{100 * TARGET_ACCURACY:.1f} / {100 * TARGET_F1:.1f}: "
                        f"{'met' if met else 'NOT met'} ({REFERENCE})")
    return "\n".join([*lines, "", *verdicts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data", default=DATA, help=f"the .seg folder (default {DATA})")
    parser.add_argument("--set", dest="extra", action="append", default=[],
                        help="extra recipe override for every run (strategy.* keys: PSS runs)")
    parser.add_argument("--results", type=Path, default=None,
                        help="the JSON results file (default results/absa_pss_<model>.json)")
    parser.add_argument("--pss-only", action="store_true",
                        help="skip the plain runs (e.g. a PSS variant next to earlier plain runs)")
    parser.add_argument("--plain-only", action="store_true",
                        help="skip the PSS runs (e.g. a dev check of a model setting)")
    parser.add_argument("--report", action="store_true", help="only print the table")
    parser.add_argument("--merge", nargs="+", type=Path, default=[],
                        help="add the runs of these results files to --results, then report")
    args = parser.parse_args()
    torch.set_num_threads(1)

    if args.merge:
        if args.results is None:
            parser.error("--merge needs --results (the file the runs are added to)")
        save(args.results, merge(load(args.results), args.merge))
    elif not args.report:
        for model in args.models:
            path = args.results or RESULTS_DIR / f"absa_pss_{model}.json"
            results = load(path)
            done = {(r["model"], r["pss"], r["seed"]) for r in results["runs"]}
            for seed in args.seeds:
                kinds = (True,) if args.pss_only else (False,) if args.plain_only else (False, True)
                for pss in kinds:
                    if (model, pss, seed) in done:
                        continue
                    run = run_one(model, pss, seed, args.data, args.extra)
                    results["runs"].append(run)
                    save(path, results)
                    print(f"[bench] {model} pss={pss} seed {seed}: test acc "
                          f"{run['test_accuracy']:.4f} macro-F1 {run['test_macro_f1']:.4f} "
                          f"({run['wall_seconds']:.0f} s)", flush=True)
    files = [args.results] if args.results else sorted(RESULTS_DIR.glob("absa_pss_*.json"))
    runs = [run for path in files if path.exists() for run in load(path)["runs"]]
    print(report(runs))


if __name__ == "__main__":
    main()
