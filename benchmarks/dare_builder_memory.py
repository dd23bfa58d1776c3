"""Peak memory and time of the sequence builder on a generated log of 10 million interactions.

Writes a synthetic CSV log (``attnkit.recsys.synthetic``: 100,000 users x ~100 behaviours,
200,000 items, 200 categories; once, to ``--log``), then, in a fresh process, runs what
``attnkit fit`` runs before training: scan and check the log (polars, streaming engine),
sort and encode it, build the train / dev / test examples with their negatives, learn the
id maps and cut the first training batch (256 histories of 200). Reports the child's peak
resident memory (``ru_maxrss``) and the wall time (``results/dare_builder_memory.json``).

    OMP_NUM_THREADS=1 python benchmarks/dare_builder_memory.py --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "dare_builder_memory.json"


def build(path: Path) -> dict:
    import attnkit  # noqa: F401
    from attnkit.recsys.task import SequentialCTRTask

    task = SequentialCTRTask()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    splits = task.read_splits(path, dict(task.data_defaults), seed=0)
    built = time.perf_counter() - started
    maps = task.fit_preprocessor(splits["train"], {"max_length": 200, "min_item_count": 1})
    batches = task.batches(maps, splits["train"], 256, shuffle=True, seed=0)
    first = batches[0][0]
    return {
        "interactions": int(len(splits["train"].log.items)),
        "users": int(len(splits["train"].log.users)),
        "examples": {name: split.frame.height for name, split in splits.items()},
        "known_items": maps.num_items - 2,
        "batch_shape": list(first["history_items"].shape),
        "build_seconds": round(built, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_imports_mb": round(baseline),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--log", type=Path, default=Path("/tmp/attnkit-synthetic-10m.csv"))
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(build(args.child)))
        return
    if not args.log.exists():
        import attnkit  # noqa: F401
        from attnkit.recsys.synthetic import make_synthetic_log

        started = time.perf_counter()
        make_synthetic_log(args.log, users=args.rows // 100, items=200_000, categories=200,
                           mean_length=100, seed=0)
        print(f"wrote {args.log} in {time.perf_counter() - started:.0f} s", flush=True)
    done = subprocess.run([sys.executable, __file__, "--child", str(args.log)],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update({"log": str(args.log), "log_mb": round(args.log.stat().st_size / 2**20),
                   "date": str(date.today()), "cpus": os.cpu_count(),
                   "load_average_at_start": round(os.getloadavg()[0], 2)})
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
