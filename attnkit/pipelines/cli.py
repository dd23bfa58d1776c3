"""The ``attnkit`` command line.

Errors caused by input (bad file, unknown recipe or key, unknown model URI) print one
line on stderr and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from attnkit.errors import AttnkitError

EXIT_USER_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnkit", description="Train, evaluate and use attnkit models, tracked in MLflow."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("fit", help="train a recipe and log the run and model to MLflow")
    fit.add_argument("recipe", help="a shipped recipe name (see `attnkit recipes`) or a .toml path")
    fit.add_argument("--data", help="data folder (train/dev/test files) or a single file to split")
    fit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a recipe field, e.g. --set training.epochs=3 (repeatable)")
    fit.add_argument("--experiment", default="attnkit", help="MLflow experiment (default: attnkit)")
    fit.add_argument("--register", metavar="NAME", help="register the model under NAME")
    fit.add_argument("--alias", default="champion", help="alias moved to a registered model")
    fit.add_argument("--unlabelled", metavar="PATH",
                     help="unlabelled inputs for semi-supervised strategies (vat, ivat)")
    fit.add_argument("--distributed", action="store_true",
                     help="data-parallel training (torch DDP) in each process torchrun starts")
    fit.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    tune = commands.add_parser("tune", help="search a recipe's [search] space with Optuna")
    tune.add_argument("recipe", help="a shipped recipe name or a .toml path with a [search] table")
    tune.add_argument("--trials", type=int, required=True, metavar="N",
                      help="the study's total target of finished trials (a rerun continues)")
    tune.add_argument("--data", help="data folder (train/dev/test files) or a single file to split")
    tune.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="fix a recipe field (it leaves the search); repeatable")
    tune.add_argument("--storage", metavar="URL",
                      help="Optuna storage: postgresql://..., sqlite:///..., or a journal file "
                           "(default: optuna.db next to the MLflow runs)")
    tune.add_argument("--study", metavar="NAME",
                      help="study name (default: recipe name + a hash of the settings)")
    tune.add_argument("--workers", type=int, default=1, metavar="K",
                      help="worker processes on this machine (default: 1)")
    tune.add_argument("--timeout", type=float, metavar="SECONDS",
                      help="start no new trial after this many seconds")
    tune.add_argument("--heartbeat", type=int, default=60, metavar="SECONDS",
                      help="trial heartbeat; a trial silent for twice this is retried")
    tune.add_argument("--experiment", default="attnkit", help="MLflow experiment (default: attnkit)")
    tune.add_argument("--register", metavar="NAME", help="register the best model under NAME")
    tune.add_argument("--alias", default="champion", help="alias moved to a registered model")
    tune.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    evaluate = commands.add_parser("evaluate", help="score a model on labelled data")
    evaluate.add_argument("model_uri", help="runs:/ID/model, models:/NAME@ALIAS, or a model folder")
    evaluate.add_argument("--data", required=True, help="a labelled file or a data folder")
    evaluate.add_argument("--json", action="store_true", help="print metrics as one JSON object")

    predict = commands.add_parser("predict", help="predict raw inputs with a model")
    predict.add_argument("model_uri", help="runs:/ID/model, models:/NAME@ALIAS, or a model folder")
    predict.add_argument("--input", required=True, help=".txt (one input per line) or a data file")
    predict.add_argument("--output", help="write JSON Lines here (default: stdout)")
    predict.add_argument("--explain", action="store_true", help="add each token's attention weight")

    explain = commands.add_parser(
        "explain", help="attention vs gradient word importance, and their agreement, on a file"
    )
    explain.add_argument("model_uri", help="runs:/ID/model, models:/NAME@ALIAS, or a model folder")
    explain.add_argument("--data", required=True, help=".txt (one input per line) or a data file")
    explain.add_argument("--output", help="write per-input tokens and scores as JSON Lines here")
    explain.add_argument("--plot", help="save a PNG of the first input with >= 5 tokens here")
    explain.add_argument("--json", action="store_true", help="print the agreement as JSON")

    register = commands.add_parser("register", help="register a logged model and move an alias")
    register.add_argument("model_uri", help="a run id, runs:/ID/model or models:/m-ID")
    register.add_argument("--name", required=True, help="registered model name")
    register.add_argument("--alias", default="champion", help="alias to point at the new version")
    register.add_argument("--json", action="store_true", help="print the result as JSON")

    serve = commands.add_parser("serve", help="serve a model over HTTP (MLflow's scoring server)")
    serve.add_argument("model_uri", help="runs:/ID/model, models:/NAME@ALIAS, or a model folder")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    serve.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    serve.add_argument("--max-batch-size", type=int, metavar="N",
                       help="most records per request (default: $ATTNKIT_MAX_BATCH_SIZE or 1024)")
    serve.add_argument("--threads", type=int, metavar="N",
                       help="torch CPU threads in the server (default: torch's own choice)")

    recipes = commands.add_parser("recipes", help="list the shipped recipes")
    recipes.add_argument("--json", action="store_true", help="print the recipes as JSON")

    sample = commands.add_parser("make-sample", help="write a small synthetic sentiment dataset")
    sample.add_argument("directory", nargs="?", default="data/sample")
    sample.add_argument("--size", type=int, default=3000)
    sample.add_argument("--seed", type=int, default=0)
    return parser


def _explain(args: argparse.Namespace) -> None:
    from pathlib import Path

    from attnkit.pipelines.interpretability import explain, plot_example
    from attnkit.pipelines.outputs import write_atomically

    report = explain(args.model_uri, args.data)
    if args.output:
        rows = "".join(json.dumps(row) + "\n" for row in report.rows())
        write_atomically(Path(args.output), rows)
    if args.plot:
        index = next((i for i, t in enumerate(report.tokens) if len(t) >= 5), 0)
        plot_example(report.tokens[index], report.attention[index], report.importance[index],
                     Path(args.plot))
    if args.json:
        print(json.dumps(report.agreement))
    else:
        for name, value in report.agreement.items():
            print(f"{name:<32} {value:.4f}")


def _run(args: argparse.Namespace) -> int:
    from attnkit import pipelines

    if args.command == "fit":
        result = pipelines.fit(
            args.recipe, data=args.data, overrides=args.overrides,
            experiment=args.experiment, register=args.register, alias=args.alias,
            unlabelled=args.unlabelled, distributed=args.distributed,
        )
        from attnkit.pipelines.distributed import is_main_process

        if args.json and is_main_process():
            print(result.to_json())
    elif args.command == "tune":
        from attnkit.pipelines.tune import tune

        result = tune(
            args.recipe, args.trials, data=args.data, overrides=args.overrides,
            storage=args.storage, study=args.study, workers=args.workers, timeout=args.timeout,
            experiment=args.experiment, register=args.register, alias=args.alias,
            heartbeat=args.heartbeat,
        )
        if args.json:
            print(result.to_json())
    elif args.command == "evaluate":
        metrics = pipelines.evaluate(args.model_uri, args.data)
        if args.json:
            print(json.dumps(metrics))
        else:
            for name, value in metrics.items():
                print(f"{name:<20} {value:.4f}")
    elif args.command == "explain":
        _explain(args)
    elif args.command == "predict":
        answers = pipelines.predict_file(args.model_uri, args.input, args.output, args.explain)
        if not args.output:
            for answer in answers:
                print(json.dumps(answer))
        else:
            print(f"[attnkit] wrote {len(answers)} predictions to {args.output}", file=sys.stderr)
    elif args.command == "register":
        from attnkit.pipelines.registry import register

        registered = register(args.model_uri, args.name, args.alias)
        if args.json:
            print(json.dumps(registered))
        else:
            print(f"[attnkit] {registered['model_uri']} -> {registered['name']} "
                  f"version {registered['version']}")
    elif args.command == "serve":
        from attnkit.pipelines.serve import serve

        return serve(args.model_uri, args.host, args.port, args.max_batch_size, args.threads)
    elif args.command == "recipes":
        recipes = pipelines.shipped_recipes()
        if args.json:
            print(json.dumps(recipes))
        else:
            for name, recipe in recipes.items():
                print(f"{name:<28} v{recipe.get('version', 1)}  {recipe.get('description', '')}")
    elif args.command == "make-sample":
        from attnkit.pipelines.sample_data import make_sample_data

        for path in make_sample_data(args.directory, args.size, args.seed):
            print(f"[attnkit] wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code = _run_reporting_errors(args)
    if getattr(args, "distributed", False):
        from attnkit.pipelines.distributed import exit_after_leaving

        exit_after_leaving(code)  # a torchrun rank ends here, past gloo's teardown race
    return code


def _run_reporting_errors(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except AttnkitError as error:
        if args.debug:
            raise
        print(f"attnkit: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("attnkit: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
