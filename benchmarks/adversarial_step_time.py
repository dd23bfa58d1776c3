"""Time one training step of each attention strategy relative to a vanilla step, in one process.

The model and batches come from the ``sst2-bilstm-*`` recipes (BiLSTM 128/direction + additive
attention, frozen MiniLM embeddings, batch 32, real SST-2 sentences bucketed by length); VAT
and iVAT also get one unlabelled batch of 32 GLUE phrases per step, as in their recipes.
Rounds alternate between strategies so machine noise hits all of them; each strategy's figure
is the median over rounds of the mean step time, and the ratio is against vanilla's.
Each adversarial strategy runs twice: with its default ``reuse_encoder = true`` (the perturbed
passes replay the layers upstream of the attention) and as ``<name>-rerun`` with
``reuse_encoder = false`` (every pass reruns the whole model, as the released code does).

    python benchmarks/adversarial_step_time.py --data ../shared/data/sst2 --rounds 5 --steps 20

Results: a table on stdout and JSON in ``benchmarks/results/adversarial_step_time.json``.
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

from attnkit.backend import device_description
from attnkit.data.interleaved import InterleavedBatches
from attnkit.pipelines.recipes import load_recipe
from attnkit.tasks.registry import get_model_builder, get_task
from attnkit.training import get_strategy

ADVERSARIAL = ("at", "iat", "vat", "ivat")
STRATEGIES = ("vanilla", *ADVERSARIAL, *(f"{name}-rerun" for name in ADVERSARIAL))
PASSES = {
    "vanilla": "1 forward, 1 backward",
    "at": "1 forward; the adversarial pass reruns the attention and head only; 1 backward",
    "iat": "as AT, plus the (B, B, T) difference directions",
    "vat": "1 forward on labelled + unlabelled (64 examples); nudged and adversarial passes "
           "rerun the attention and head only; 1 backward",
    "ivat": "as VAT",
    "at-rerun": "2 full forward passes, 1 backward of both graphs",
    "iat-rerun": "as at-rerun, plus the difference directions",
    "vat-rerun": "3 full forward passes on 64 examples, 1 backward of two graphs",
    "ivat-rerun": "as vat-rerun",
}


def build(strategy: str, task, preprocessor):
    name, _, variant = strategy.partition("-")
    recipe = load_recipe(f"sst2-bilstm-{name}")
    params = {k: v for k, v in recipe["model"].items() if k != "builder"}
    keras.utils.set_random_seed(0)
    model = get_model_builder(recipe["task"], recipe["model"]["builder"])(
        **params, **task.model_arguments(preprocessor))
    settings = dict(recipe["strategy"])
    if name != "vanilla":  # both ways whatever the recipe chose
        settings["reuse_encoder"] = variant != "rerun"
    trainer = get_strategy(recipe["training"]["strategy"], settings).prepare(model, task)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), loss=task.loss())
    return trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--output", type=Path,
                        default=Path(__file__).parent / "results" / "adversarial_step_time.json")
    args = parser.parse_args()

    base = load_recipe("sst2-bilstm-vat")
    task = get_task(base["task"])
    splits = task.read_splits(Path(args.data), base["data"], base["seed"])
    preprocessor = task.fit_preprocessor(splits["train"], base["preprocess"])
    labelled = task.batches(preprocessor, splits["train"], 32, True, 0)
    extra = task.read_unlabelled(Path(args.data) / base["data"]["unlabelled"], base["data"])
    unlabelled = task.batches(preprocessor, extra, 32, True, 1, labelled=False)
    with_unlabelled = InterleavedBatches(labelled, unlabelled)

    trainers = {s: build(s, task, preprocessor) for s in STRATEGIES}
    times: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    for round_index in range(args.rounds + 1):  # round 0 warms up every strategy
        for strategy, trainer in trainers.items():
            source = with_unlabelled if strategy.partition("-")[0] in ("vat", "ivat") else labelled
            batches = [source[(round_index * args.steps + i) % len(labelled)]
                       for i in range(args.steps)]
            started = time.perf_counter()
            for x, y in batches:
                trainer.train_on_batch(x, y)
            if round_index:
                times[strategy].append((time.perf_counter() - started) / args.steps)
    medians = {s: statistics.median(t) for s, t in times.items()}
    rows = [{"strategy": s, "ms_per_step": 1000 * medians[s],
             "ratio_to_vanilla": medians[s] / medians["vanilla"], "passes": PASSES[s]}
            for s in STRATEGIES]
    print("| strategy | ms/step (median of rounds) | × vanilla | passes |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['strategy']} | {row['ms_per_step']:.1f} | {row['ratio_to_vanilla']:.2f} "
              f"| {row['passes']} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}; {device_description()}",
        "rounds": args.rounds, "steps": args.steps, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
