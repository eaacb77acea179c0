"""`lmforge demo`: the main job on the built-in default, the shipped `demo` recipe
(lmforge/recipes/builtin/demo.yaml), sized for 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lmforge.recipes.find import find_recipe
from lmforge.recipes.runner import load_recipe, run_recipe
from lmforge.stats import show


class DemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str | None = Field(None, description="run folder (default runs/demo)")
    overrides: list[str] = Field(default_factory=list, description="recipe overrides, e.g. scale=tiny (a toy run of the same stages)")


def run_demo(out: str | None = None, overrides: list[str] = ()) -> Path:
    """Run the demo recipe end to end (resuming a killed run) and return its report path."""
    recipe = load_recipe(find_recipe("demo"), list(overrides), out=out)
    records = run_recipe(recipe)
    report = recipe.out / "report.md"
    print(f"\nDone. Report card: {report}")
    for rec in records.values():
        for label, value in (rec["summary"].get("headline") or {}).items():
            print(f"  {label}: {show(value)}")
    model = records["grpo" if "grpo" in records else "dpo"]["output"]  # the last tuning stage
    print(f"\nChat with the model:      lmforge chat {model}")
    print(f"Serve it (OpenAI API):    lmforge serve {model} --port 8000   (chat page at /)")
    print(f"Run the GGUF in llama.cpp: {records['export']['output']}")
    return report


def demo(cfg: DemoConfig) -> Path:
    return run_demo(cfg.out, cfg.overrides)
