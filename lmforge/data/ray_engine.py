"""The Ray engine: shards mapped with Ray Data, global dedup as Ray Data group-bys.

Keys of every document become rows `(key, id, sig)`, one per LSH band plus one for the exact
key; `groupby(key).map_groups` turns each bucket into confirmed edges (the same `bucket_pairs`
and Jaccard check as the local engine), so no step holds the corpus on one machine. Only the
edges (as many as there are duplicates) come back to the driver for the connected components.
The parts folder must be on storage every node sees (the output's parent folder).

`ray` is imported here only, when `--engine ray` is asked for.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from lmforge.data.dedup import DedupSettings, Duplicates, jaccard
from lmforge.data.minhash import band_hashes, bucket_pairs
from lmforge.data.shards import ShardResult, ShardTask, load_keys
from lmforge.errors import UserError

EXACT = -1  # the band number of exact-key rows


def _ray(address: str | None, workers: int) -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("--engine ray needs Ray: pip install 'lmforge[ray]'") from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


def ray_map(fn: Callable[[ShardTask], ShardResult], tasks: Iterable[ShardTask], workers: int,
            address: str | None) -> list[ShardResult]:
    """fn over the tasks as a Ray Data map (one CPU per task), results in task order."""
    ray = _ray(address, workers)
    ds = ray.data.from_items([{"task": t} for t in tasks])
    out = ds.map(lambda row: {"result": fn(row["task"])}, num_cpus=1, concurrency=workers).take_all()
    return sorted((r["result"] for r in out), key=lambda r: r.index)


def _key_rows(row: dict[str, Any], parts: str, s: DedupSettings) -> list[dict[str, Any]]:
    keys = load_keys(parts, int(row["index"]))
    bands, rows = s.bands
    bh = band_hashes(keys.sigs, bands, rows)
    out = []
    for i, doc in enumerate(keys.ids):
        sig = keys.sigs[i].tobytes()
        out.append({"band": EXACT, "hash": keys.exact[i].tobytes(), "id": int(doc), "sig": sig})
        out += [{"band": j, "hash": bh[i, j].tobytes(), "id": int(doc), "sig": sig} for j in range(bands)]
    return out


def _edges(group: dict[str, np.ndarray], threshold: float) -> dict[str, np.ndarray]:
    """Confirmed pairs of one bucket (exact buckets need no confirmation)."""
    ids = np.asarray(group["id"], dtype=np.uint64)
    a, b = bucket_pairs(np.zeros(len(ids), np.uint64), ids)
    exact = len(ids) > 0 and int(group["band"][0]) == EXACT
    if len(a) and not exact:
        sigs = np.stack([np.frombuffer(x, dtype=np.uint32) for x in group["sig"]])
        order = np.argsort(ids)
        ids, sigs = ids[order], sigs[order]
        ok = jaccard(sigs[np.searchsorted(ids, a)], sigs[np.searchsorted(ids, b)]) >= threshold
        a, b = a[ok], b[ok]
    return {"a": a, "b": b, "exact": np.full(len(a), exact)}


def ray_duplicates(parts: str, indices: list[int], s: DedupSettings) -> Duplicates:
    """Exact and near duplicates over all shards with Ray Data group-bys."""
    import ray

    rows = ray.data.from_items([{"index": i} for i in indices]).flat_map(lambda r: _key_rows(r, parts, s))
    edges = rows.groupby(["band", "hash"]).map_groups(lambda g: _edges(g, s.threshold), batch_format="numpy")
    got = edges.take_all()
    a = np.array([e["a"] for e in got], dtype=np.uint64)
    b = np.array([e["b"] for e in got], dtype=np.uint64)
    ex = np.array([bool(e["exact"]) for e in got], dtype=bool)
    return Duplicates.from_edges((a[ex], b[ex]), (a[~ex], b[~ex]))
