"""Render benchmark JSON results as the Markdown tables used in BENCHMARKS.md.

    python benchmarks/report.py benchmarks/results/heads.json benchmarks/results/lama_step_time.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def mean_std(entry: dict, metric: str, scale: float = 100.0) -> str:
    value = entry.get(metric)
    if not value:
        return "-"
    return f"{scale * value['mean']:.2f} ± {scale * value['std']:.2f}"


def heads_table(result: dict) -> str:
    lines = [
        "| dataset | head | dev acc % | test acc % | test macro-F1 % | seeds | best epoch | attention params | "
        "train samples/s | latency 1 text (ms) | latency 256 texts (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, entry in result["summary"].items():
        dataset, head = key.split("/")
        speed = result.get("speed", {}).get(dataset, {}).get(head, {})
        epochs = entry.get("best_epoch", {}).get("values", [])
        lines.append(
            f"| {dataset} | {head} | {mean_std(entry, 'dev_accuracy')} | {mean_std(entry, 'test_accuracy')} | "
            f"{mean_std(entry, 'test_macro_f1')} | {len(entry['seeds'])} | {', '.join(str(int(e)) for e in epochs)} | "
            f"{speed.get('attention_params', 0):,} | {speed.get('train_samples_per_s', 0):.0f} | "
            f"{speed.get('latency_1_ms', 0):.1f} | {speed.get('latency_256_ms', 0):.0f} |"
        )
    per_seed = ["", "| dataset | head | seed | dev acc | test acc | test macro-F1 | MLflow run |", "|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        per_seed.append(
            f"| {run['dataset']} | {run['head']} | {run['seed']} | {run['dev_accuracy']:.4f} | "
            f"{run.get('test_accuracy', float('nan')):.4f} | {run.get('test_macro_f1', float('nan')):.4f} | `{run['run_id'][:8]}` |"
        )
    return "\n".join(lines + per_seed)


def step_table(result: dict) -> str:
    return "\n".join([
        "| implementation | median ms / training step | trainable params | all params |",
        "|---|---|---|---|",
        f"| attnkit `TextClassifier` (Keras 3, torch backend) | {result['keras_ms_per_step']:.1f} | "
        f"{result['keras_trainable_params']:,} | {result['keras_params']:,} |",
        f"| pure PyTorch module, same sizes | {result['torch_ms_per_step']:.1f} | "
        f"{result['torch_trainable_params']:,} | {result['torch_params']:,} |",
        f"| **ratio Keras / PyTorch** | **{result['ratio_keras_over_torch']:.3f}** | | |",
        "",
        f"Per-round medians (ms), Keras: {', '.join(f'{t:.1f}' for t in result['keras_ms_all_rounds'])}; "
        f"PyTorch: {', '.join(f'{t:.1f}' for t in result['torch_ms_all_rounds'])}.",
    ])


def serve_table(result: dict) -> str:
    """``benchmarks/serve.py``: HTTP vs in-process latency per torch thread count."""
    lines = [
        "| torch threads | request | p50 ms HTTP | p50 ms in-process | p50 ratio | "
        "p99 ms HTTP | p99 ms in-process | p99 ratio | requests |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for config in result["configs"]:
        for key, entry in config.items():
            if not isinstance(entry, dict) or "http" not in entry:
                continue
            name = "1 sentence" if key == "single" else f"{key.split('_')[1]} sentences"
            http, local = entry["http"], entry["in_process"]
            lines.append(
                f"| {config['torch_threads']} | {name} | {http['p50_ms']:.1f} | "
                f"{local['p50_ms']:.1f} | {entry['ratio_p50_http_over_in_process']:.2f} | "
                f"{http['p99_ms']:.1f} | {local['p99_ms']:.1f} | "
                f"{entry['ratio_p99_http_over_in_process']:.2f} | {http['n']} |"
            )
    return "\n".join(lines)


def main() -> None:
    for path in sys.argv[1:]:
        result = json.loads(Path(path).read_text())
        print(f"<!-- {path}: {result.get('machine', '')}, {result.get('date', '')} -->")
        if "summary" in result:
            print(heads_table(result))
        elif "request_format" in result:
            print(serve_table(result))
        else:
            print(step_table(result))
        print()


if __name__ == "__main__":
    main()
