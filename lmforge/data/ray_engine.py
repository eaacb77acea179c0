"""The Ray engine: shards mapped with Ray Data, global dedup as Ray Data group-bys.

Keys of every document become rows `(partition, band, hash, id)`, one per LSH band plus one for
the exact key, the partition a hash of the key; `groupby(partition).map_groups` turns the buckets
of each partition into candidate pairs (the same `bucket_pairs` as the local engine); the pairs,
grouped by the two shards they join, are confirmed by Jaccard with those two shards' signatures
only. No step holds the corpus on one machine; only the confirmed edges (as many as there are
duplicates) come back to the driver for the connected components.
The parts folder must be on storage every node sees (the output's parent folder).

`ray` is imported here only, when `--engine ray` is asked for.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Iterable

import numpy as np

from lmforge.data.dedup import DedupSettings, DocKeys, Duplicates, similar
from lmforge.data.minhash import band_hashes, bucket_pairs
from lmforge.data.shards import ROW_BITS, ShardResult, ShardTask, load_keys
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
    items = [{"task": t} for t in tasks]
    ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))  # a block per shard: all workers busy
    out = ds.map(lambda row: {"result": fn(row["task"])}, num_cpus=1, concurrency=workers).take_all()
    return sorted((r["result"] for r in out), key=lambda r: r.index)


def _key_columns(keys: DocKeys, s: DedupSettings, n_parts: int) -> dict[str, np.ndarray]:
    """One row per document and key (its exact key, then each LSH band), with the partition
    its key hashes to, so every row of a bucket lands in the same partition. No signature
    travels with them: 40 bytes a row instead of 550."""
    bands, rows = s.bands
    n = len(keys.ids)
    bh = band_hashes(keys.sigs, bands, rows)
    h0 = np.concatenate([keys.exact[:, 0], bh.ravel()])
    h1 = np.concatenate([keys.exact[:, 1], np.zeros(n * bands, np.uint64)])
    return {"part": (h0 % np.uint64(n_parts)).astype(np.int64),
            "band": np.concatenate([np.full(n, EXACT), np.tile(np.arange(bands), n)]).astype(np.int64),
            "h0": h0.view(np.int64), "h1": h1.view(np.int64),
            "id": np.concatenate([keys.ids, np.repeat(keys.ids, bands)]).astype(np.int64)}


def _key_batch(batch: dict[str, np.ndarray], parts: str, s: DedupSettings, n_parts: int) -> dict[str, np.ndarray]:
    cols = [_key_columns(load_keys(parts, int(i)), s, n_parts) for i in batch["index"]]
    return {k: np.concatenate([c[k] for c in cols]) for k in cols[0]}


def _candidates(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The pairs of one partition's buckets (the same vectorised bucket_pairs as the local
    engine): exact ones final, band ones to be confirmed, each with the shards of its two ids."""
    ids = np.asarray(group["id"], dtype=np.int64).astype(np.uint64)
    band = np.asarray(group["band"], dtype=np.int64)
    keys = np.stack([band.view(np.uint64), np.asarray(group["h0"], dtype=np.int64).view(np.uint64),
                     np.asarray(group["h1"], dtype=np.int64).view(np.uint64)], axis=1)
    exact = band == EXACT
    ea, eb = bucket_pairs(keys[exact], ids[exact])
    na, nb = bucket_pairs(keys[~exact], ids[~exact])
    a, b = np.concatenate([ea, na]), np.concatenate([eb, nb])
    return {"a": a.astype(np.int64), "b": b.astype(np.int64),
            "exact": np.concatenate([np.ones(len(ea), bool), np.zeros(len(na), bool)]),
            "shards": ((a >> np.uint64(ROW_BITS)) << np.uint64(32) | (b >> np.uint64(ROW_BITS))).astype(np.int64)}


@lru_cache(maxsize=8)
def _shard_keys(parts: str, index: int) -> DocKeys:
    return load_keys(parts, index)


def _confirm(group: dict[str, np.ndarray], parts: str, threshold: float) -> dict[str, np.ndarray]:
    """Band pairs between two shards confirmed by estimated Jaccard (only those two shards'
    signatures are loaded); exact pairs pass as they are."""
    a = np.asarray(group["a"], dtype=np.int64).astype(np.uint64)
    b = np.asarray(group["b"], dtype=np.int64).astype(np.uint64)
    exact = np.asarray(group["exact"], dtype=bool)
    ok = exact.copy()
    if (~exact).any():
        shards = sorted({int(x) >> ROW_BITS for x in (a[~exact][0], b[~exact][0])})
        keys = DocKeys.concat([_shard_keys(parts, i) for i in shards], 0)
        ok[~exact] = similar(a[~exact], b[~exact], keys.ids, keys.sigs, threshold)
    return {"a": a[ok].astype(np.int64), "b": b[ok].astype(np.int64), "exact": exact[ok]}


def ray_duplicates(parts: str, indices: list[int], s: DedupSettings, docs: int = 0) -> Duplicates:
    """Exact and near duplicates over all shards: key rows hash-partitioned (about
    ROWS_PER_PART rows each) into candidate pairs, then the pairs grouped by the two shards
    they join and confirmed by Jaccard with just those shards' signatures."""
    import ray

    n_parts = max(2, docs * (s.bands[0] + 1) // ROWS_PER_PART + 1)  # (each partition costs a Ray actor)
    rows = ray.data.from_items([{"index": i} for i in indices]).map_batches(
        lambda b: _key_batch(b, parts, s, n_parts), batch_size=1, batch_format="numpy")
    pairs = rows.groupby("part", num_partitions=n_parts).map_groups(_candidates, batch_format="numpy")
    got = pairs.groupby("shards", num_partitions=n_parts).map_groups(lambda g: _confirm(g, parts, s.threshold),
                                             batch_format="numpy").take_all()
    a = np.array([e["a"] for e in got], dtype=np.int64).astype(np.uint64)
    b = np.array([e["b"] for e in got], dtype=np.int64).astype(np.uint64)
    ex = np.array([bool(e["exact"]) for e in got], dtype=bool)
    return Duplicates.from_edges((a[ex], b[ex]), (a[~ex], b[~ex]))
