"""lmforge's imports go one way (docs/architecture.md): no cycles, nothing imports a higher layer,
and imports inside functions are only for optional heavy dependencies."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "lmforge"
LAYERS = [
    {"config", "files", "text", "errors", "report", "stats"},
    {"data"},
    {"tokenizer"},
    {"tokens"},
    {"model"},
    {"train"},
    {"grow", "sft", "select", "eval", "export", "serve", "scaling", "synth", "rl", "distill"},
    {"recipes", "demo", "cli", "clidoc", "__main__"},
]
# Imported inside functions on purpose: optional extras, heavy peers, or costly at start-up.
LAZY_OK = {"peft", "transformers", "ray", "liger_kernel", "torch.distributed.fsdp", "matplotlib",
           "uvicorn", "tensorboard", "wandb", "torch.utils.tensorboard", "fsspec", "lm_eval",
           "selenium", "mergekit", "trl", "openai", "datatrove", "rensa", "opencc", "xxhash"}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    return mods


def _imports(path: Path, module: str) -> list[tuple[str, int, bool]]:
    """(imported lmforge module, line, inside a function?) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        out += [(n, node.lineno, id(node) in inside) for n in names]
    return out


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return next((i for i, names in enumerate(LAYERS) if len(parts) > 1 and parts[1] in names), None)


def _graph() -> tuple[dict[str, set[str]], list[str], list[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    upward, lazy = [], []
    for mod, path in mods.items():
        for name, line, in_function in _imports(path, mod):
            if name.startswith("lmforge"):
                target = name
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if not target or target == mod:
                    continue
                graph[mod].add(target)
                lo, hi = _layer(mod), _layer(target)
                if lo is not None and hi is not None and hi > lo:
                    upward.append(f"{path.relative_to(ROOT.parent)}:{line} {mod} -> {target}")
                if in_function:
                    lazy.append(f"{path.relative_to(ROOT.parent)}:{line} {name}")
    return graph, upward, lazy


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles(_graph()[0]) == []


def test_no_upward_imports():
    assert _graph()[1] == []


def test_lmforge_imports_are_at_module_top():
    assert _graph()[2] == []


def test_the_checker_sees_a_planted_cycle_and_upward_import():
    graph = {"lmforge.a": {"lmforge.b"}, "lmforge.b": {"lmforge.a"}, "lmforge.c": set()}
    assert _cycles(graph) == [["lmforge.a", "lmforge.b"]]
    assert _layer("lmforge.data.read") < _layer("lmforge.model.io")


@pytest.mark.parametrize("module", ["lmforge.cli", "lmforge.recipes.runner", "lmforge.serve.server"])
def test_front_ends_import(module):
    __import__(module)
