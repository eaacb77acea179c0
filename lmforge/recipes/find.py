"""Run a recipe by path or shipped name: `run_named(RunConfig)`, behind `lmforge run` and `lmforge demo`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

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


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recipe: str = Field(description="recipe YAML path or a shipped recipe name (e.g. solar-dus)")
    out: str | None = Field(None, description="run folder (default: the recipe's `out`)")
    dry_run: bool = Field(False, description="check every stage and print model sizes and FLOPs budgets without running")
    overrides: list[str] = Field(default_factory=list,
                                 description="recipe overrides, e.g. scale=real stages.pretrain.train.max_steps=100")


def run_named(cfg: RunConfig) -> dict | None:
    """Run (or with dry_run, plan) a recipe; returns {stage: record} when it ran."""
    recipe = load_recipe(find_recipe(cfg.recipe), cfg.overrides, out=cfg.out)
    if cfg.dry_run:
        print_plan(recipe)
        return None
    return run_recipe(recipe)
