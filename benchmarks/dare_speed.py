"""Speed of the long-sequence CTR models on CPU (one thread), all timings in one run.

``search``: stage one alone (scoring every behaviour against the target with the attention
table, plus top-K) for DARE at attention widths 128, 64 and 32 per field (representation
fixed at 128), batch 256, history N (default 200), a vocabulary large enough that the
vectors are gathered (no whole-table shortcut). Ratios are against width 128.

``long``: a training step (``train_on_batch``: forward with the auxiliary head, backward,
Adam) and an inference forward pass at batch 256 for N in 200, 1000, 5000, 10000, each N in a
fresh process so its peak resident memory (``ru_maxrss``) is its own. Embedding 16 per field,
top-k 20, DARE and TWIN.

``parity``: the official figures' settings on the parity data's vocabulary (1,683 items, 20
categories, emb 16): ms per training iteration at batch 195 with N = 100, and the inference
forward at batch 256 with N in 200, 1000, 5000 (synthetic ids).

Timings are the best of ``--repeats`` calls after a warm-up (medians are kept too, as
``medians_ms``); the machine is shared, so the load average at the start is recorded with
the results (``results/dare_speed.json``).

    OMP_NUM_THREADS=1 python benchmarks/dare_speed.py search long parity
    python benchmarks/dare_speed.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

RESULTS = Path(__file__).parent / "results" / "dare_speed.json"
OFFICIAL_TRAIN_MS = 42.0
OFFICIAL_FORWARD_MS = {200: (21.0, 33.0), 1000: (147.0, 147.0), 5000: (684.0, 722.0)}


def _setup():
    import attnkit  # noqa: F401
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    return torch


def _inputs(rng, batch: int, length: int, items: int, categories: int):
    import torch

    return {
        "history_items": torch.from_numpy(rng.integers(1, items, (batch, length))),
        "history_categories": torch.from_numpy(rng.integers(1, categories, (batch, length))),
        "item": torch.from_numpy(rng.integers(1, items, batch)),
        "category": torch.from_numpy(rng.integers(1, categories, batch)),
    }


def _median_ms(function, repeats: int) -> float:
    """The best of ``repeats`` timed calls, in ms (on a shared machine the minimum is the
    closest to the uncontended time; the median is kept in ``MEDIANS``)."""
    function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    MEDIANS.append(1000 * statistics.median(samples))
    return 1000 * min(samples)


MEDIANS: list[float] = []


def _model(variant: str, items: int, categories: int, length: int, **settings):
    import keras

    from attnkit.recsys.model import LongSequenceCTR

    keras.utils.set_random_seed(0)
    model = LongSequenceCTR(items, categories, length, variant=variant, **settings)
    model.compile(optimizer=keras.optimizers.Adam(0.01, epsilon=1e-8),
                  loss=keras.losses.BinaryCrossentropy())
    return model


def search(args) -> dict:
    """Stage-one time per batch at attention widths 128 / 64 / 32 (representation 128)."""
    import numpy as np

    torch = _setup()
    rng = np.random.default_rng(0)
    items, categories = 100_000, 1_000
    x = _inputs(rng, 256, args.length, items, categories)
    out = {}
    with torch.no_grad():
        for width in (128, 64, 32):
            model = _model("dare", items, categories, args.length, item_dim=128,
                           category_dim=128, time_dim=128, attention_item_dim=width,
                           attention_category_dim=width, attention_time_dim=width)
            out[str(width)] = _median_ms(lambda model=model: model.search(x), args.repeats)
            del model
    return {"length": args.length, "batch": 256, "items": items, "ms": out,
            "speedup_vs_128": {w: out["128"] / ms for w, ms in out.items()}}


def one_length(length: int, items: int, repeats: int) -> dict:
    """Run in a child process: times and peak memory at one N."""
    import numpy as np

    torch = _setup()
    rng = np.random.default_rng(0)
    x = _inputs(rng, 256, length, items, 20)
    y = torch.from_numpy(rng.integers(0, 2, 256).astype("float32"))
    result = {}
    for variant in ("dare", "twin"):
        model = _model(variant, items, 20, length)
        result[f"{variant}_train_ms"] = _median_ms(lambda m=model: m.train_on_batch(x, y),
                                                   repeats)
        with torch.no_grad():
            result[f"{variant}_infer_ms"] = _median_ms(lambda m=model: m(x), repeats)
        del model
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["medians_ms"] = [round(m, 2) for m in MEDIANS]
    return result


def long_sequences(args) -> dict:
    out = {}
    for items in args.vocabularies:
        for length in (200, 1000, 5000, 10000):
            command = [sys.executable, __file__, "--child", str(length), "--items", str(items),
                       "--repeats", str(args.repeats)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            out[f"{items}/{length}"] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"items {items} N {length}: {out[f'{items}/{length}']}", flush=True)
    return out


def parity(args) -> dict:
    import numpy as np

    torch = _setup()
    rng = np.random.default_rng(0)
    out = {"forward": {}}
    for variant in ("dare", "twin"):
        model = _model(variant, 1683, 20, 100)
        x = _inputs(rng, 195, 100, 1683, 20)
        y = torch.from_numpy(rng.integers(0, 2, 195).astype("float32"))
        out[f"{variant}_train_ms"] = _median_ms(lambda m=model, x=x, y=y: m.train_on_batch(x, y),
                                                args.repeats * 3)
        out[f"{variant}_train_speedup"] = OFFICIAL_TRAIN_MS / out[f"{variant}_train_ms"]
    for length, (low, high) in OFFICIAL_FORWARD_MS.items():
        entry = {"official_ms": [low, high]}
        for variant in ("dare", "twin"):
            model = _model(variant, 1683, 20, length)
            x = _inputs(rng, 256, length, 1683, 20)
            with torch.no_grad():
                entry[f"{variant}_ms"] = _median_ms(lambda m=model, x=x: m(x), args.repeats)
        entry["speedup_vs_fastest_official"] = low / max(entry["dare_ms"], entry["twin_ms"])
        out["forward"][str(length)] = entry
    return out


def report(result: dict) -> str:
    lines = []
    if "parity" in result:
        p = result["parity"]
        lines += ["| measure | DARE | TWIN | official | speed-up (vs the official figure) |",
                  "|---|---|---|---|---|",
                  f"| train iteration, batch 195, N 100 (ms) | {p['dare_train_ms']:.1f} | "
                  f"{p['twin_train_ms']:.1f} | ~42 | {p['dare_train_speedup']:.2f}x / "
                  f"{p['twin_train_speedup']:.2f}x |"]
        for length, e in p["forward"].items():
            lines.append(f"| inference forward, batch 256, N {length} (ms) | {e['dare_ms']:.1f} | "
                         f"{e['twin_ms']:.1f} | {e['official_ms'][0]:.0f}-{e['official_ms'][1]:.0f} | "
                         f"{e['speedup_vs_fastest_official']:.2f}x |")
    if "search" in result:
        s = result["search"]
        lines += ["", f"| attention width (repr 128) | stage 1 ms / batch of 256, N {s['length']} | "
                      "speed-up vs 128 |", "|---|---|---|"]
        for width, ms in s["ms"].items():
            lines.append(f"| {width} | {ms:.2f} | {s['speedup_vs_128'][width]:.2f}x |")
    if "long" in result:
        lines += ["", "| items | N | DARE train step ms | DARE inference ms | TWIN train step ms | "
                      "TWIN inference ms | peak RSS MB |", "|---|---|---|---|---|---|---|"]
        for key, e in result["long"].items():
            items, length = key.split("/")
            lines.append(f"| {int(items):,} | {length} | {e['dare_train_ms']:.0f} | "
                         f"{e['dare_infer_ms']:.0f} | {e['twin_train_ms']:.0f} | "
                         f"{e['twin_infer_ms']:.0f} | {e['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="search, long and/or parity")
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--vocabularies", nargs="+", type=int, default=[3706, 1_000_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, default=3706, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_length(args.child, args.items, args.repeats)))
        return
    result = json.loads(args.results.read_text()) if args.results.exists() else {}
    if args.report:
        print(report(result))
        return
    for part in args.parts:
        if part not in ("search", "long", "parity"):
            parser.error(f"unknown part {part!r}: choose search, long or parity")
        started = os.getloadavg()[0]
        result[part] = {"search": search, "long": long_sequences, "parity": parity}[part](args)
        result.setdefault("load_average_at_start", {})[part] = round(started, 2)
        result.setdefault("medians_ms", {})[part] = [round(m, 2) for m in MEDIANS]
        MEDIANS.clear()
        result.update({"machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), "
                                  f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}",
                       "date": str(date.today())})
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(result, indent=1))
    print(report(result))


if __name__ == "__main__":
    main()
