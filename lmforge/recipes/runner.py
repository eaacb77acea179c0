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
folder holds `stage.json` (written last, atomically). Each completed stage gets a build id, and
records its spec and the build ids of every earlier stage (its inputs); a rerun skips a complete
stage only when both are unchanged, so a rebuilt upstream stage reruns everything after it, in
this run or a later one. A stage writes `.stage-started` (its spec and inputs as JSON) before it
runs: a killed stage that is unchanged resumes (a training stage from its own checkpoints); one
whose spec or inputs changed since is cleared first, so its old checkpoints and metrics.jsonl rows
do not leak into the new run. `skip: true` leaves a stage out; "{recipe_dir}" in a value is the
recipe file's folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import lmforge.recipes.stages  # noqa: F401  (registers the stage kinds)
from lmforge.config import ConfigError, apply_overrides, read_yaml
from lmforge.files import atomic_write_json
from lmforge.recipes.kinds import STAGE_KINDS, StageContext, StageParams, check_params  # noqa: F401
from lmforge.report import write_report

STAGE_FILE = "stage.json"
STARTED_FILE = ".stage-started"  # JSON: the spec and inputs a stage was started with (no data suffix)
LEGACY = "legacy-"  # build ids of records written before build ids were kept
_UNSET = "(default)"  # a key a spec does not set


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


def _started(stage_dir: Path) -> dict[str, Any] | None:
    f = stage_dir / STARTED_FILE
    try:
        return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None
    except json.JSONDecodeError:  # a torn write (the file is written atomically, but be safe)
        return {}


def build_id(record: dict[str, Any]) -> str:
    """A completed stage's build id (records from before build ids: a hash of what they hold)."""
    if "build" in record:
        return str(record["build"])
    held = json.dumps([record.get("spec"), record.get("output"), record.get("seconds")], sort_keys=True)
    return LEGACY + hashlib.sha256(held.encode()).hexdigest()[:16]


def _changes(old: Any, new: Any, key: str = "") -> list[str]:
    """What differs between two specs, as `key: old -> new` lines (dotted keys)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [c for k in sorted(set(old) | set(new), key=str)
                for c in _changes(old.get(k, _UNSET), new.get(k, _UNSET), f"{key}.{k}" if key else str(k))]
    shown = [v if v is _UNSET else json.dumps(v) for v in (old, new)]
    return [] if old == new else [f"{key or 'spec'}: {shown[0]} -> {shown[1]}"]


def _why_stale(before: dict[str, Any], spec: dict[str, Any], inputs: dict[str, str]) -> str | None:
    """Why a stage's earlier outputs (started or complete) no longer fit: None when they still do.
    A record from before inputs were kept fits only inputs that are as old as it."""
    changed = _changes(before.get("spec"), spec)
    old_inputs = before.get("inputs", {k: v for k, v in inputs.items() if v.startswith(LEGACY)})
    rebuilt = [k for k in inputs if old_inputs.get(k) != inputs[k]] + [k for k in old_inputs if k not in inputs]
    if changed:
        return "its settings changed (" + "; ".join(changed[:4]) + ("; ..." if len(changed) > 4 else "") + ")"
    if rebuilt:
        return f"earlier stage(s) {', '.join(rebuilt)} were rebuilt or changed"
    return None


def _prepare(stage_dir: Path, spec: dict[str, Any], inputs: dict[str, str], log: Callable[[str], None],
             where: str) -> dict[str, Any] | None:
    """The stage's record when it is complete and current (to skip); otherwise clear what is stale
    (with a message), mark the stage started, and return None (to run: a killed unchanged stage
    keeps its folder and resumes)."""
    done = stage_record(stage_dir)
    if done is not None and _why_stale(done, spec, inputs) is None:
        return done
    before = done if done is not None else _started(stage_dir)
    why = None if before is None else _why_stale(before, spec, inputs)
    if why and stage_dir.exists():
        log(f"{where}: {why}: removing its earlier outputs in {stage_dir} and starting clean")
        shutil.rmtree(stage_dir)
    elif before is not None:
        log(f"{where}: unchanged since it was stopped: resuming")
    stage_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(stage_dir / STARTED_FILE, {"spec": spec, "inputs": inputs})
    return None


def _run_stage(recipe: Recipe, name: str, spec: dict[str, Any], inputs: dict[str, str],
               outputs: dict[str, str], records: dict[str, dict[str, Any]],
               log: Callable[[str], None]) -> dict[str, Any]:
    stage_dir = recipe.out / name
    ctx = StageContext(name=name, out_dir=stage_dir, run_dir=recipe.out, outputs=outputs,
                       summaries={k: v["summary"] for k, v in records.items()}, scale=recipe.scale)
    params = check_params(spec["kind"], resolve({k: v for k, v in spec.items() if k != "kind"}, outputs),
                          f"stages.{name}", out_dir=stage_dir)
    log(f"[{recipe.name}] {name}: running {spec['kind']}")
    t0 = time.time()
    output, summary = STAGE_KINDS[spec["kind"]][1](params, ctx)
    done = {"kind": spec["kind"], "spec": spec, "output": str(output), "summary": summary,
            "seconds": time.time() - t0, "build": uuid.uuid4().hex, "inputs": inputs}
    atomic_write_json(stage_dir / STAGE_FILE, done)
    log(f"[{recipe.name}] {name}: done in {done['seconds']:.0f}s -> {output}")
    return done


def run_recipe(recipe: Recipe, log: Callable[[str], None] = print,
               report: bool = True) -> dict[str, dict[str, Any]]:
    """Run every stage not complete and current; return {stage: record}.

    A stage is skipped when its record holds the same spec and the same build ids of every earlier
    stage; otherwise it runs, after its stale outputs are cleared (a killed unchanged stage keeps
    them and resumes), and every later stage sees its new build id and runs too."""
    recipe.out.mkdir(parents=True, exist_ok=True)
    (recipe.out / "recipe.resolved.json").write_text(json.dumps(recipe.raw, indent=2,
                                                                ensure_ascii=False))
    outputs: dict[str, str] = {}
    records: dict[str, dict[str, Any]] = {}
    for name, spec in recipe.stages.items():
        inputs = {k: build_id(r) for k, r in records.items()}
        done = _prepare(recipe.out / name, spec, inputs, lambda m: log(f"[{recipe.name}] {m}"), name)
        if done is not None:
            log(f"[{recipe.name}] {name}: complete, skipped ({done['seconds']:.0f}s earlier)")
        else:
            done = _run_stage(recipe, name, spec, inputs, outputs, records, log)
        outputs[name] = done["output"]
        records[name] = done
    if report:
        path = write_report(recipe, records)
        log(f"[{recipe.name}] report: {path}")
    return records
