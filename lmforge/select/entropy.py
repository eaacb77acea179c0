"""MindLLM data entropy: each sample's mean token cross-entropy on its response under the base
model, K-Means clusters of those entropies, and a band above the base model's own entropy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from pydantic import ConfigDict, Field, model_validator
from tqdm import tqdm

from lmforge.data.ops import InputPath, InputPaths
from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.data.read import expand, read_documents
from lmforge.errors import UserError
from lmforge.files import atomic_dir
from lmforge.model.folder import ModelFolder
from lmforge.model.loader import load_for_inference
from lmforge.model.loss import masked_logprobs
from lmforge.report import save_figure
from lmforge.sft.data import SFTBatches, encode, read_jsonl, to_messages
from lmforge.tokens.pack import is_val
from lmforge.train.boundary import check_model_folder

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)


@torch.no_grad()
def response_entropy(model, tokenizer, records: list[dict[str, Any]], batch_size: int = 16) -> list[float]:
    """Mean next-token cross-entropy (nats) over each record's assistant tokens."""
    model.eval()
    samples = [encode(tokenizer, to_messages(r)) for r in records]
    out: list[float] = []
    for i in tqdm(range(0, len(samples), batch_size), desc="entropy", leave=False):
        b = SFTBatches.collate(samples[i:i + batch_size], tokenizer.pad_id or 0)
        logits = model(b["input_ids"], attention_mask=b["attention_mask"])[:, :-1].float()
        target = b["labels"][:, 1:]
        n = (target != -100).sum(1).clamp(min=1)
        out += (-masked_logprobs(logits, target).sum(1) / n).tolist()
    return out


def cluster_table(entropies: list[float], k: int = 5, seed: int = 0) -> tuple[np.ndarray, list[dict[str, float]]]:
    """K-Means labels (clusters numbered by rising mean entropy) and per-cluster statistics."""
    from sklearn.cluster import KMeans

    x = np.asarray(entropies, dtype=float)[:, None]
    k = min(k, len(set(entropies)))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    rank = np.argsort(np.argsort(km.cluster_centers_[:, 0]))
    labels = rank[km.labels_]
    table = [{"cluster": c, "count": int((labels == c).sum()), "mean": float(x[labels == c].mean()),
              "min": float(x[labels == c].min()), "max": float(x[labels == c].max())} for c in range(k)]
    return labels, table


def select_band(entropies: list[float], base: float, low: float = 1.0, high: float = 1.5) -> list[int]:
    """Indices whose entropy lies in [base + low, base + high] (MindLLM: +1.0 to +1.5 nats)."""
    return [i for i, e in enumerate(entropies) if base + low <= e <= base + high]


class SelectConfig(ModelFolder):
    """MindLLM data entropy: score every record, cluster, keep a band above the base entropy."""

    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="output folder: scored.jsonl, selected.jsonl, clusters.json, histogram.png")
    data: InputPath = Field(description="instruction jsonl (any SFT schema)")
    heldout: InputPaths = Field(description="held-out pretraining text: .txt (one document per line), "
                                           "jsonl/parquet with a `text` field, or folders of them")
    val_fraction: float | None = Field(None, gt=0, lt=1, description="use only the documents `data pack` "
                                       "put in validation at this val_fraction (default: every document)")
    low: float = Field(1.0, description="band start above the base entropy (nats)")
    high: float = Field(1.5, description="band end above the base entropy (nats)")
    clusters: int = Field(5, gt=0, description="K-Means clusters of the entropies")
    batch_size: int = Field(16, gt=0, description="records scored per forward pass")

    @model_validator(mode="after")
    def _band(self) -> "SelectConfig":
        if self.high <= self.low:
            raise UserError(f"--high {self.high} must be above --low {self.low} (the band is [low, high])")
        return self

    def heldout_documents(self) -> list[str]:
        docs = [d for d in read_documents(expand(self.heldout), txt_mode="line") if d.strip()]
        if self.val_fraction is not None:
            docs = [d for d in docs if is_val(d, self.val_fraction)]
        if not docs:
            raise UserError(f"heldout: no documents in {', '.join(self.heldout)}"
                            + (f" at val_fraction {self.val_fraction}" if self.val_fraction else ""))
        return docs


def run_select(cfg: SelectConfig) -> dict[str, Any]:
    """`lmforge select entropy`: the outputs in `out` (atomically); returns clusters.json's content."""
    return select_by_entropy(cfg.model, cfg.data, cfg.heldout_documents(), cfg.out, cfg.low, cfg.high,
                             cfg.clusters, cfg.batch_size)


def select_by_entropy(model_dir: str | Path, data: str | Path, heldout: list[str], out: str | Path,
                      low: float = 1.0, high: float = 1.5, clusters: int = 5,
                      batch_size: int = 16) -> dict[str, Any]:
    """Score every record, cluster, select the band; write scored.jsonl, selected.jsonl,
    clusters.json and histogram.png to `out` (atomically). Returns clusters.json's content."""
    check_model_folder(model_dir)  # its tokenizer is its own and fits its embedding
    loaded = load_for_inference(model_dir)  # the one loader: tokenizer and finite weights checked
    tok, model = loaded.tokenizer, loaded.model
    recs = list(read_jsonl(data))
    # base entropy: the same measure on plain text (the whole document as the "response")
    held = [{"messages": [{"role": "assistant", "content": d[:2000]}]} for d in heldout[:256]]
    base_ent = response_entropy(model, tok, held, batch_size)
    base = sum(base_ent) / len(base_ent)
    ent = response_entropy(model, tok, recs, batch_size)
    labels, table = cluster_table(ent, clusters)
    picked = select_band(ent, base, low, high)
    summary = {"base_entropy": base, "band": [base + low, base + high], "clusters": table,
               "selected": len(picked), "scored": len(recs),
               "caption": band_caption(base, low, high, len(picked), len(recs))}
    with atomic_dir(out) as d:
        write_jsonl_atomic(d / "scored.jsonl", ({**r, "entropy": e, "cluster": int(c)}
                                                for r, e, c in zip(recs, ent, labels)))
        write_jsonl_atomic(d / "selected.jsonl", (recs[i] for i in picked))
        (d / "clusters.json").write_text(json.dumps(summary, indent=1))
        save_figure(entropy_figure(ent, base, low, high, len(picked)), d / "histogram.png", tight=False)
    return summary


def band_caption(base: float, low: float, high: float, kept: int, scored: int) -> str:
    """What "kept k of n" means: the band, where it sits against the base entropy, and why."""
    return (f"Kept {kept} of {scored}: the samples whose response entropy lies in [{base + low:.2f}, "
            f"{base + high:.2f}] nats, +{low:g} to +{high:g} above the base entropy {base:.2f} (the base "
            "model's own loss on held-out plain text). MindLLM keeps +1.0 to +1.5: responses a little "
            "harder than text the base model already predicts.")


def entropy_figure(entropies: list[float], base: float, low: float, high: float, kept: int):
    """The histogram of response entropies with the base entropy and the band kept marked and
    explained (legend, caption); returns the figure."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.hist(entropies, bins=40, color="tab:blue", alpha=0.8, label=f"instruction samples (n={len(entropies)})")
    ax.axvline(base, color="black", linewidth=1.5,
               label=f"base entropy {base:.2f}: the base model on held-out plain text")
    ax.axvspan(base + low, base + high, color="tab:green", alpha=0.25,
               label=f"band kept: base +{low:g} to +{high:g} nats = [{base + low:.2f}, {base + high:.2f}]: "
                     f"{kept} of {len(entropies)} samples")
    lo, hi = min(min(entropies), base), max(max(entropies), base + high)
    ax.set_xlim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
    ax.set_xlabel("response entropy: the base model's mean loss on the response tokens (nats/token)")
    ax.set_ylabel("samples")
    ax.set_title("MindLLM entropy selection")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.4)  # room for the legend above the bars
    ax.legend(fontsize="small", loc="upper right")
    fig.text(0.01, 0.01, band_caption(base, low, high, kept, len(entropies)), fontsize="x-small", wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
