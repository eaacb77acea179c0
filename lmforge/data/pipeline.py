"""Clean + deduplicate sources into jsonl files, with a report of what every step removed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

import numpy as np

from tqdm import tqdm

from lmforge.data import charclass
from lmforge.data.dedup import DEFAULT_THRESHOLD, DedupSettings, Duplicates
from lmforge.data.engines import default_workers, empty_duplicates, local_duplicates, local_map
from lmforge.data.outdir import fresh_output_dir
from lmforge.data.ray_engine import ray_duplicates, ray_map
from lmforge.data.read import Documents, expand
from lmforge.data.remote import RemoteDocuments
from lmforge.data.shards import LANGS, FileShard, ShardResult, ShardTask, chunks, part_paths, process_shard
from lmforge.files import atomic_open
from lmforge.report import markdown_table, save_figure
from lmforge.text import MAX_PROBLEMS

SAMPLES = 3  # removed documents shown per step


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as jsonl through a temp file (removed if anything fails); the count."""
    n = 0
    with atomic_open(path) as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


@dataclass
class RunOptions:
    """How the shards run: engine, workers, Ray address."""

    engine: str = "local"
    workers: int | None = None
    address: str | None = None


def file_shards(docs: Iterable[str]) -> list[FileShard] | None:
    """One shard per file, for documents a worker can read itself (files or URLs); else None."""
    if isinstance(docs, Documents) and getattr(docs, "language", None) is None:  # a language split reads here
        return [FileShard(str(p), docs.text_field, docs.txt_mode, docs.strict) for p in expand(docs.paths)]
    if isinstance(docs, RemoteDocuments):
        return [FileShard(u, docs.field, strict=docs.strict) for u in docs.urls]
    return None


def _tasks(sources: dict[str, Iterable[str]], parts: Path, steps: list[dict[str, Any]] | None,
           dedup: DedupSettings | None, by_file: bool) -> Iterator[ShardTask]:
    """The shards in input order: files read by the workers (by_file), or chunks read here."""
    index = 0
    for name, docs in sources.items():
        files = file_shards(docs) if by_file else None
        units = files if files is not None else chunks(tqdm(docs, desc=f"read {name}", unit="doc",
                                                           mininterval=2.0))
        for unit in units:
            yield ShardTask(index, name, unit, str(parts), steps, dedup)
            index += 1


def _merge_read_stats(sources: dict[str, Iterable[str]], results: list[ShardResult]) -> None:
    """What workers read from files is counted in the source's own stats (for the report)."""
    for r in results:
        total = getattr(sources[r.source], "stats", None)
        if r.read is not None and total is not None and r.read is not total:
            total.records += r.read.records
            total.skipped += r.read.skipped
            total.reasons.update(r.read.reasons)
            total.problems += r.read.problems[:MAX_PROBLEMS - len(total.problems)]


def _map(tasks: Iterator[ShardTask], run: RunOptions) -> list[ShardResult]:
    workers = run.workers or default_workers()
    if run.engine == "ray":
        return ray_map(process_shard, tasks, workers, run.address)
    if workers > 1:
        charclass.table()  # built once here, inherited by the forked workers
    return list(local_map(process_shard, tasks, workers))


def _duplicates(parts: Path, results: list[ShardResult], dedup: DedupSettings | None, run: RunOptions) -> Duplicates:
    if dedup is None:
        return empty_duplicates()
    indices = [r.index for r in results]
    if run.engine == "ray":
        return ray_duplicates(str(parts), indices, dedup, docs=sum(r.docs_in for r in results))
    return local_duplicates(str(parts), indices, dedup)


def _new_counts() -> dict[str, Any]:
    return {"docs_in": 0, "chars_in": 0, "dropped_by_filters": 0, "duplicates": 0,
            "docs_out": 0, "chars_out": 0, "zh_docs": 0, "en_docs": 0, "other_docs": 0}


def _write_source(f: BinaryIO, results: list[ShardResult], parts: Path, dropped: np.ndarray,
                  counts: dict[str, Any], lengths: dict[str, list[int]]) -> None:
    """Append each shard's kept lines that are not duplicates, and count them."""
    for r in results:
        counts["docs_in"] += r.docs_in
        counts["chars_in"] += r.chars_in
        counts["dropped_by_filters"] += r.dropped_by_filters
        jsonl, npz = part_paths(parts, r.index)
        with np.load(npz) as z:
            ids, chars, lang, nbytes = z["ids"], z["chars"], z["lang"], z["nbytes"]
        keep = ~np.isin(ids, dropped)
        counts["duplicates"] += int((~keep).sum())
        data, ends = jsonl.read_bytes(), np.cumsum(nbytes)
        f.write(b"".join(data[e - n:e] for e, n, k in zip(ends, nbytes, keep) if k))
        for code, name in enumerate(LANGS):
            mine = keep & (lang == code)
            counts[f"{name}_docs"] += int(mine.sum())
            lengths[name] += chars[mine].tolist()
        counts["docs_out"] += int(keep.sum())
        counts["chars_out"] += int(chars[keep].sum())
        jsonl.unlink()
        npz.unlink()


def _sum_steps(results: list[ShardResult]) -> dict[str, dict[str, Any]]:
    """Per-step counts added over shards (lists, such as removed samples, keep the first few)."""
    total: dict[str, dict[str, Any]] = {}
    for r in results:
        for name, st in r.steps.items():
            acc = total.setdefault(name, {k: [] if isinstance(v, list) else 0 for k, v in st.items()})
            for k, v in st.items():
                acc[k] = (acc[k] + v)[:SAMPLES] if isinstance(v, list) else acc[k] + v
    return total


def process_sources(sources: dict[str, Iterable[str]], out_dir: str | Path,
                    clean_steps: list[dict[str, Any]] | None = None, dedup: bool = True,
                    dedup_threshold: float = DEFAULT_THRESHOLD, run: RunOptions | None = None) -> dict[str, Any]:
    """Write out_dir/<source>.jsonl ({"text", "lang"}) and out_dir/report.{json,md,png}.

    Shards are cleaned in parallel (`run`); deduplication is global across all sources and
    shards (a document repeated anywhere is kept once, at its first occurrence). The folder is
    replaced in one step at the end: a failed or killed run leaves `out_dir` as it was.
    """
    run = run or RunOptions()
    settings = DedupSettings(threshold=dedup_threshold) if dedup else None
    with fresh_output_dir(out_dir) as tmp:
        parts = tmp / ".parts"
        parts.mkdir()
        results = _map(_tasks(sources, parts, clean_steps, settings, by_file=run.engine == "ray"), run)
        _merge_read_stats(sources, results)
        dups = _duplicates(parts, results, settings, run)
        report = _write_outputs(tmp, sources, results, parts, dups)
        if settings is not None:
            report["dedup"] = {"exact_duplicates": int(len(dups.exact)), "near_duplicates": int(len(dups.near)),
                               "threshold": dedup_threshold}
        parts.rmdir()
        _write_report(tmp, report)
    return report


def _write_outputs(tmp: Path, sources: dict[str, Iterable[str]], results: list[ShardResult], parts: Path,
                   dups: Duplicates) -> dict[str, Any]:
    report: dict[str, Any] = {"sources": {}, "steps": {}}
    dropped = dups.all()
    for name, docs in sources.items():
        mine = [r for r in results if r.source == name]
        counts = _new_counts()
        with open(tmp / f"{name}.jsonl", "wb") as f:
            _write_source(f, mine, parts, dropped, counts, report.setdefault("_lengths", {k: [] for k in LANGS}))
        if counts["docs_in"] != counts["docs_out"] + counts["dropped_by_filters"] + counts["duplicates"]:
            raise AssertionError(f"{name}: document accounting does not balance: {counts}")
        read = getattr(docs, "stats", None)  # data.read.Documents count malformed records
        if read is not None:
            counts["records_skipped"] = read.skipped
            report.setdefault("skipped", {})[name] = read.summary()
        report["sources"][name] = counts
        report["steps"][name] = _sum_steps(mine)
    return report


def _write_report(out_dir: Path, report: dict[str, Any]) -> None:
    lengths = report.pop("_lengths", {k: [] for k in LANGS})
    total_out = sum(s["chars_out"] for s in report["sources"].values()) or 1
    report["zh_char_share"] = sum(lengths["zh"]) / total_out
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (out_dir / "report.md").write_text(report_markdown(report), encoding="utf-8")
    _length_histogram(lengths, out_dir / "lengths.png")


def report_markdown(report: dict[str, Any]) -> str:
    lines = ["# Data report", "", "## Per source", "",
             markdown_table([{"source": k, **v} for k, v in report["sources"].items()]), ""]
    for source, steps in report["steps"].items():
        rows = [{"step": k, "docs_in": v["docs_in"], "docs_out": v["docs_out"],
                 "removed": v["docs_in"] - v["docs_out"], "chars_in": v["chars_in"],
                 "chars_out": v["chars_out"]} for k, v in steps.items()]
        lines += [f"## Steps: {source}", "", markdown_table(rows), ""]
    for source, read in (report.get("skipped") or {}).items():
        if read["skipped"]:
            lines += [f"## Skipped records: {source}", "", f"{read['skipped']} malformed record(s) skipped: "
                      + ", ".join(f"{why} ({n})" for why, n in read["skip_reasons"].items()), ""]
            lines += [f"- `{p}`" for p in read["first_skipped"]] + [""]
    if "dedup" in report:
        lines += ["## Deduplication", "", markdown_table([report["dedup"]]), ""]
    lines += [f"Chinese share of kept characters: {report['zh_char_share']:.1%}", ""]
    return "\n".join(lines)


def _length_histogram(lengths: dict[str, list[int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for lang, values in lengths.items():
        if values:
            ax.hist(values, bins=40, alpha=0.6, label=f"{lang} ({len(values)} docs)")
    ax.set_xlabel("characters per document")
    ax.set_ylabel("documents")
    ax.legend()
    save_figure(fig, path)
