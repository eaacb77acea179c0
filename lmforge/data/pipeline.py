"""Clean + deduplicate sources into jsonl files, with a report of what every step removed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from tqdm import tqdm

from lmforge.data.clean import Cleaner, language
from lmforge.data.dedup import Deduplicator
from lmforge.files import atomic_open
from lmforge.report import markdown_table


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as jsonl through a temp file (removed if anything fails); the count."""
    n = 0
    with atomic_open(path) as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


def process_sources(sources: dict[str, Iterable[str]], out_dir: str | Path,
                    clean_steps: list[dict[str, Any]] | None = None, dedup: bool = True,
                    dedup_threshold: float = 0.8) -> dict[str, Any]:
    """Write out_dir/<source>.jsonl ({"text", "lang"}) and out_dir/report.{json,md,png}.

    Deduplication runs across all sources (a document repeated in two sources is kept once).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dedup_ = Deduplicator(threshold=dedup_threshold) if dedup else None
    report: dict[str, Any] = {"sources": {}, "steps": {}}
    lengths: dict[str, list[int]] = {"zh": [], "en": [], "other": []}
    for name, docs in sources.items():
        cleaner = Cleaner(steps=clean_steps) if clean_steps is not None else Cleaner()
        counts = {"docs_in": 0, "chars_in": 0, "dropped_by_filters": 0, "duplicates": 0,
                  "docs_out": 0, "chars_out": 0, "zh_docs": 0, "en_docs": 0, "other_docs": 0}

        def kept() -> Iterable[dict[str, Any]]:
            for text in tqdm(docs, desc=f"clean {name}", unit="doc", mininterval=2.0):
                counts["docs_in"] += 1
                counts["chars_in"] += len(text)
                cleaned = cleaner(text)
                if cleaned is None:
                    counts["dropped_by_filters"] += 1
                    continue
                if dedup_ is not None and not dedup_.keep(cleaned):
                    counts["duplicates"] += 1
                    continue
                lang = language(cleaned)
                counts["docs_out"] += 1
                counts["chars_out"] += len(cleaned)
                counts[f"{lang}_docs"] += 1
                lengths[lang].append(len(cleaned))
                yield {"text": cleaned, "lang": lang}

        write_jsonl_atomic(out_dir / f"{name}.jsonl", kept())
        if counts["docs_in"] != counts["docs_out"] + counts["dropped_by_filters"] + counts["duplicates"]:
            raise AssertionError(f"{name}: document accounting does not balance: {counts}")
        read = getattr(docs, "stats", None)  # data.read.Documents count malformed records
        if read is not None:
            counts["records_skipped"] = read.skipped
            report.setdefault("skipped", {})[name] = read.summary()
        report["sources"][name] = counts
        report["steps"][name] = {k: vars(v) for k, v in cleaner.stats.items()}
    if dedup_ is not None:
        report["dedup"] = {"exact_duplicates": dedup_.stats.exact_duplicates,
                           "near_duplicates": dedup_.stats.near_duplicates,
                           "threshold": dedup_threshold}
    total_out = sum(s["chars_out"] for s in report["sources"].values()) or 1
    report["zh_char_share"] = sum(lengths["zh"]) / total_out
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (out_dir / "report.md").write_text(report_markdown(report), encoding="utf-8")
    _length_histogram(lengths, out_dir / "lengths.png")
    return report


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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
