"""`lmforge run RECIPE.yaml`: run a recipe's stages in order, each one's output the next one's input.

A recipe is YAML:

    name: demo
    out: runs/demo
    scale: tiny                  # which entry of `scales` to apply
    scales:
      tiny: {stages.pretrain.train.max_steps: 200}
      real: {stages.pretrain.model.preset: mistral-7b}
    stages:                      # ordered; each key is a stage name
      corpus:   {kind: corpus, max_chars: 2000000}
      tokenizer: {kind: tokenizer, input: "@corpus", vocab_size: 4096}

A string "@name" is the output path of the earlier stage `name`. A stage is complete when its
folder holds `stage.json` (written last, atomically); a rerun skips complete stages, and a
training stage that was killed resumes from its own checkpoints. `skip: true` leaves a stage out;
"{recipe_dir}" in a value is the recipe file's folder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import lmforge.recipes.stages  # noqa: F401  (registers the stage kinds)
from lmforge.config import ConfigError, apply_overrides, read_yaml
from lmforge.recipes.kinds import STAGE_KINDS, StageContext, StageParams, check_params  # noqa: F401
from lmforge.report import write_report

STAGE_FILE = "stage.json"


@dataclass
class Recipe:
    name: str
    out: Path
    scale: str
    stages: dict[str, dict[str, Any]]
    source: str
    raw: dict[str, Any]


def load_recipe(path: str | Path, overrides: list[str] = (), out: str | None = None) -> Recipe:
    """Read a recipe, apply its scale's overrides then the command line's, check every stage."""
    path = Path(path)
    data = read_yaml(path)
    cli_scale = [o for o in overrides if o.startswith("scale=")]
    apply_overrides(data, cli_scale)
    unknown = set(data) - {"name", "out", "scale", "scales", "stages", "description"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(unknown)}; valid: name, out, "
                          "scale, scales, stages, description")
    scale = str(data.get("scale", "tiny"))
    scales = data.get("scales") or {}
    if scales and scale not in scales:
        raise ConfigError(f"{path}: scale {scale!r} not in scales {sorted(scales)}")
    flat = [f"{k}={json.dumps(v)}" for k, v in (scales.get(scale) or {}).items()]
    apply_overrides(data, flat + [o for o in overrides if not o.startswith("scale=")])
    stages = data.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise ConfigError(f"{path}: `stages` must be a non-empty mapping of name -> stage")
    # `skip: true` leaves a stage out (e.g. a toy-scale control run at real scale)
    stages = {k: v for k, v in stages.items() if not (isinstance(v, dict) and v.get("skip") is True)}
    stages = _with_recipe_dir(stages, path.resolve().parent)
    seen: list[str] = []
    for name, spec in stages.items():
        where = f"{path}: stages.{name}"
        if not isinstance(spec, dict) or "kind" not in spec:
            raise ConfigError(f"{where}: each stage needs a `kind`")
        if spec["kind"] not in STAGE_KINDS:
            raise ConfigError(f"{where}: unknown kind {spec['kind']!r}; valid kinds: "
                              f"{', '.join(sorted(STAGE_KINDS))}")
        for ref in _refs(spec):
            if ref not in seen:
                raise ConfigError(f"{where}: '@{ref}' does not name an earlier stage "
                                  f"(earlier: {seen or 'none'})")
        check_params(spec["kind"], {k: v for k, v in spec.items() if k != "kind"}, where, True)
        seen.append(name)
    run_out = Path(out or data.get("out") or f"runs/{data.get('name', path.stem)}")
    return Recipe(name=str(data.get("name", path.stem)), out=run_out, scale=scale,
                  stages=stages, source=str(path), raw=data)


def _refs(value: Any) -> list[str]:
    if isinstance(value, str) and value.startswith("@"):
        return [value[1:].split("/")[0]]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def _map_strings(value: Any, fn: Callable[[str], Any]) -> Any:
    """`value` with `fn` applied to every string inside its dicts and lists."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    return value


def _with_recipe_dir(value: Any, folder: Path) -> Any:
    """"{recipe_dir}" in a string is the recipe file's folder (for data shipped beside it)."""
    return _map_strings(value, lambda s: s.replace("{recipe_dir}", str(folder)))


def resolve(value: Any, outputs: dict[str, str]) -> Any:
    """Replace "@stage" (or "@stage/sub/path") with the earlier stage's output path."""
    def one(s: str) -> str:
        if not s.startswith("@"):
            return s
        name, _, rest = s[1:].partition("/")
        return str(Path(outputs[name]) / rest) if rest else outputs[name]
    return _map_strings(value, one)


def stage_record(stage_dir: Path) -> dict[str, Any] | None:
    f = stage_dir / STAGE_FILE
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None


def _write_record(stage_dir: Path, record: dict[str, Any]) -> None:
    tmp = stage_dir / f".{STAGE_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, stage_dir / STAGE_FILE)


def run_recipe(recipe: Recipe, log: Callable[[str], None] = print,
               report: bool = True) -> dict[str, dict[str, Any]]:
    """Run every stage not yet complete; return {stage: record}.

    A stage without a record resumes (a training stage from its checkpoints); once a stage runs,
    every later stage starts over, since its inputs may have changed."""
    recipe.out.mkdir(parents=True, exist_ok=True)
    (recipe.out / "recipe.resolved.json").write_text(json.dumps(recipe.raw, indent=2,
                                                                ensure_ascii=False))
    outputs: dict[str, str] = {}
    records: dict[str, dict[str, Any]] = {}
    rerun_rest = False
    for name, spec in recipe.stages.items():
        stage_dir = recipe.out / name
        done = stage_record(stage_dir)
        if not rerun_rest and done is not None and done.get("spec") == spec:
            log(f"[{recipe.name}] {name}: complete, skipped ({done['seconds']:.0f}s earlier)")
        else:
            if rerun_rest or done is not None:
                # its inputs or its spec changed: start over (its checkpoints are stale)
                shutil.rmtree(stage_dir, ignore_errors=True)
            rerun_rest = True
            stage_dir.mkdir(parents=True, exist_ok=True)
            ctx = StageContext(name=name, out_dir=stage_dir, run_dir=recipe.out, outputs=outputs,
                               summaries={k: v["summary"] for k, v in records.items()},
                               scale=recipe.scale)
            params = check_params(spec["kind"], resolve({k: v for k, v in spec.items()
                                                         if k != "kind"}, outputs), f"stages.{name}",
                                  out_dir=stage_dir)
            log(f"[{recipe.name}] {name}: running {spec['kind']}")
            t0 = time.time()
            output, summary = STAGE_KINDS[spec["kind"]][1](params, ctx)
            done = {"kind": spec["kind"], "spec": spec, "output": str(output),
                    "summary": summary, "seconds": time.time() - t0}
            _write_record(stage_dir, done)
            log(f"[{recipe.name}] {name}: done in {done['seconds']:.0f}s -> {output}")
        outputs[name] = done["output"]
        records[name] = done
    if report:
        path = write_report(recipe, records)
        log(f"[{recipe.name}] report: {path}")
    return records
