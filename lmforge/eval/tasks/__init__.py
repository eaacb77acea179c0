"""Benchmark families (importing registers them) and `load_task`, which reads one."""

from __future__ import annotations

from pathlib import Path

from lmforge.errors import UserError
from lmforge.eval.task import REGISTRY, MCTask
from lmforge.eval.tasks import mc  # noqa: F401  (registers the multiple-choice families)


def load_task(name: str, data_dir: str | Path) -> MCTask:
    """Load task `name` from `data_dir` (the folder holding that benchmark's files); a task
    without questions is an error, not an accuracy of 0."""
    if name not in REGISTRY:
        raise UserError(f"unknown eval task {name!r}; known: {', '.join(sorted(REGISTRY))}")
    path = Path(data_dir)
    if not path.exists():
        raise UserError(f"{path}: data for task {name!r} not found")
    task = REGISTRY[name](path)
    if not task.items:
        raise UserError(f"{path}: task {name!r} has no questions (empty files?)")
    return task
