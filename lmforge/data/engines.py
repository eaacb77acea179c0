"""Where the shards run: `local` (this process, or a pool of worker processes) or `ray`
(Ray Data on a local or existing cluster, lmforge.data.ray_engine). Both map the same
`process_shard` over the same tasks and find the same duplicates, so the kept set does not
depend on the engine or the worker count."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, Literal, TypeVar

import numpy as np

from lmforge.data.dedup import DedupSettings, DocKeys, Duplicates, find_duplicates
from lmforge.data.shards import load_keys

T = TypeVar("T")
R = TypeVar("R")
Engine = Literal["local", "ray"]


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _start_method() -> str:
    """fork: workers start at once with the modules already imported, and a script without a
    `__main__` guard works (spawn/forkserver import it again in every worker); but not from a
    process connected to Ray (forking its gRPC threads is unsafe): forkserver then."""
    ray = sys.modules.get("ray")
    if "fork" not in multiprocessing.get_all_start_methods():
        return "spawn"
    return "forkserver" if ray is not None and ray.is_initialized() else "fork"


def local_map(fn: Callable[[T], R], tasks: Iterable[T], workers: int) -> Iterator[R]:
    """fn over tasks in order; with workers > 1 in a process pool with at most 2 tasks per
    worker in flight, so memory is bounded by the worker count, not by the input."""
    if workers <= 1:
        yield from map(fn, tasks)
        return
    ctx = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        window: deque[Future] = deque()
        for task in tasks:
            window.append(pool.submit(fn, task))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def local_duplicates(parts: str, indices: list[int], s: DedupSettings) -> Duplicates:
    """Global duplicates over all shards' keys, on this machine (~530 bytes per document)."""
    keys = DocKeys.concat([load_keys(parts, i) for i in indices], s.num_perm)
    return find_duplicates(keys, s)


def empty_duplicates() -> Duplicates:
    return Duplicates(np.zeros(0, np.uint64), np.zeros(0, np.uint64))
