"""The Ray engine: shards mapped with Ray Data, global dedup as Ray Data group-bys.

Keys of every document become rows `(partition, band, hash, id, sig)`, one per LSH band plus
one for the exact key, the partition a hash of the key; `groupby(partition).map_groups` turns
the buckets of each partition into confirmed edges (the same `bucket_pairs` and Jaccard check as
the local engine), so no step holds the corpus on one machine. Only the
edges (as many as there are duplicates) come back to the driver for the connected components.
The parts folder must be on storage every node sees (the output's parent folder).

`ray` is imported here only, when `--engine ray` is asked for.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from lmforge.data.dedup import DedupSettings, DocKeys, Duplicates, jaccard
from lmforge.data.minhash import band_hashes, bucket_pairs
from lmforge.data.shards import ShardResult, ShardTask, load_keys
from lmforge.errors import UserError

EXACT = -1  # the band number of exact-key rows
ROWS_PER_PART = 2_000_000  # key rows per dedup partition (~1 GB with signatures)


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


def _key_columns(keys: DocKeys, s: DedupSettings, n_parts: int) -> dict[str, np.ndarray]:
    """One row per document and key (its exact key, then each LSH band), with the partition
    its key hashes to, so every row of a bucket lands in the same partition."""
    bands, rows = s.bands
    n = len(keys.ids)
    bh = band_hashes(keys.sigs, bands, rows)
    h0 = np.concatenate([keys.exact[:, 0], bh.ravel()])
    h1 = np.concatenate([keys.exact[:, 1], np.zeros(n * bands, np.uint64)])
    return {"part": (h0 % np.uint64(n_parts)).astype(np.int64),
            "band": np.concatenate([np.full(n, EXACT), np.tile(np.arange(bands), n)]).astype(np.int64),
            "h0": h0.view(np.int64), "h1": h1.view(np.int64),
            "id": np.concatenate([keys.ids, np.repeat(keys.ids, bands)]).astype(np.int64),
            "sig": np.concatenate([keys.sigs, np.repeat(keys.sigs, bands, axis=0)])}


def _key_batch(batch: dict[str, np.ndarray], parts: str, s: DedupSettings, n_parts: int) -> dict[str, np.ndarray]:
    cols = [_key_columns(load_keys(parts, int(i)), s, n_parts) for i in batch["index"]]
    return {k: np.concatenate([c[k] for c in cols]) for k in cols[0]}


def _edges(group: dict[str, np.ndarray], threshold: float) -> dict[str, np.ndarray]:
    """The pairs of one partition: exact buckets as they are, band buckets confirmed by Jaccard
    (the same vectorised bucket_pairs as the local engine)."""
    ids = np.asarray(group["id"], dtype=np.int64).astype(np.uint64)
    band = np.asarray(group["band"], dtype=np.int64)
    keys = np.stack([band.view(np.uint64), np.asarray(group["h0"], dtype=np.int64).view(np.uint64),
                     np.asarray(group["h1"], dtype=np.int64).view(np.uint64)], axis=1)
    exact = band == EXACT
    ea, eb = bucket_pairs(keys[exact], ids[exact])
    na, nb = bucket_pairs(keys[~exact], ids[~exact])
    if len(na):
        uniq, first = np.unique(ids, return_index=True)
        sigs = np.asarray(group["sig"])[first]
        ok = jaccard(sigs[np.searchsorted(uniq, na)], sigs[np.searchsorted(uniq, nb)]) >= threshold
        na, nb = na[ok], nb[ok]
    return {"a": np.concatenate([ea, na]).astype(np.int64), "b": np.concatenate([eb, nb]).astype(np.int64),
            "exact": np.concatenate([np.ones(len(ea), bool), np.zeros(len(na), bool)])}


def ray_duplicates(parts: str, indices: list[int], s: DedupSettings, docs: int = 0) -> Duplicates:
    """Exact and near duplicates over all shards: key rows hash-partitioned (about
    ROWS_PER_PART rows each), every partition's buckets found in one vectorised call."""
    import ray

    n_parts = max(8, docs * (s.bands[0] + 1) // ROWS_PER_PART + 1)
    rows = ray.data.from_items([{"index": i} for i in indices]).map_batches(
        lambda b: _key_batch(b, parts, s, n_parts), batch_size=1, batch_format="numpy")
    got = rows.groupby("part", num_partitions=n_parts).map_groups(lambda g: _edges(g, s.threshold), batch_format="numpy").take_all()
    a = np.array([e["a"] for e in got], dtype=np.int64).astype(np.uint64)
    b = np.array([e["b"] for e in got], dtype=np.int64).astype(np.uint64)
    ex = np.array([bool(e["exact"]) for e in got], dtype=bool)
    return Duplicates.from_edges((a[ex], b[ex]), (a[~ex], b[~ex]))
