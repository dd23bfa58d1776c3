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
    fit.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    evaluate = commands.add_parser("evaluate", help="score a model on labelled data")
    evaluate.add_argument("model_uri", help="runs:/ID/model, models:/NAME@ALIAS, or a model folder")
    evaluate.add_argument("--data", required=True, help="a labelled file or a data folder")
    evaluate.add_argument("--json", action="store_true", help="print metrics as one JSON object")

    predict = commands.add_parser("predict", help="predict raw inputs with a model")
    predict.add_argument("model_uri", help="runs:/ID/model, models:/NAME@ALIAS, or a model folder")
    predict.add_argument("--input", required=True, help=".txt (one input per line) or a data file")
    predict.add_argument("--output", help="write JSON Lines here (default: stdout)")
    predict.add_argument("--explain", action="store_true", help="add each token's attention weight")

    register = commands.add_parser("register", help="register a logged model and move an alias")
    register.add_argument("model_uri", help="a run id, runs:/ID/model or models:/m-ID")
    register.add_argument("--name", required=True, help="registered model name")
    register.add_argument("--alias", default="champion", help="alias to point at the new version")
    register.add_argument("--json", action="store_true", help="print the result as JSON")

    recipes = commands.add_parser("recipes", help="list the shipped recipes")
    recipes.add_argument("--json", action="store_true", help="print the recipes as JSON")

    sample = commands.add_parser("make-sample", help="write a small synthetic sentiment dataset")
    sample.add_argument("directory", nargs="?", default="data/sample")
    sample.add_argument("--size", type=int, default=3000)
    sample.add_argument("--seed", type=int, default=0)
    return parser


def _run(args: argparse.Namespace) -> int:
    from attnkit import pipelines

    if args.command == "fit":
        result = pipelines.fit(
            args.recipe, data=args.data, overrides=args.overrides,
            experiment=args.experiment, register=args.register, alias=args.alias,
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
