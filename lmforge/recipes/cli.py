"""`lmforge run RECIPE.yaml [key=value ...]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from lmforge.errors import UserError
from lmforge.recipes.plan import print_plan
from lmforge.recipes.runner import load_recipe, run_recipe

BUILTIN = Path(__file__).resolve().parent / "builtin"


def recipes_dir() -> Path:
    """The shipped recipes (and their data files), inside the package so that a wheel carries them."""
    return BUILTIN


def find_recipe(name: str) -> Path:
    """A recipe YAML path, or the name of a shipped recipe (`demo`, `solar-dus`, ...)."""
    p = Path(name)
    if p.is_file():
        return p
    shipped = BUILTIN / (name if name.endswith(".yaml") else f"{name}.yaml")
    if shipped.is_file():
        return shipped
    names = sorted(x.stem for x in BUILTIN.glob("*.yaml"))
    raise UserError(f"recipe {name!r}: no such file and no shipped recipe of that name; "
                    f"shipped recipes: {', '.join(names)}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a recipe's stages in order (resumes after a crash)")
    p.add_argument("recipe", help="recipe YAML path or a shipped recipe name (e.g. solar-dus)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="e.g. scale=real stages.pretrain.train.max_steps=100")
    p.add_argument("--out", help="run folder (default: the recipe's `out`)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the stages, model sizes and FLOPs budgets without running")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> None:
    recipe = load_recipe(find_recipe(args.recipe), args.overrides, out=args.out)
    if args.dry_run:
        print_plan(recipe)
        return
    run_recipe(recipe)
