"""MindLLM data-entropy selection end to end: a base model that has seen the task, a
mixed-quality instruction set (good samples plus junk made here), `lmforge select entropy`."""

from __future__ import annotations

import json
import random

import pytest

from lmforge.synth.skills import number_skill
from tests.sft.conftest import base_dir, tok_dir  # noqa: F401  (fixtures)


def _scramble(text: str, rng: random.Random) -> str:
    chars = list(text)
    rng.shuffle(chars)
    return "".join(chars)


def mixed_set(seed: int = 7) -> tuple[list[dict], list[str]]:
    """60 good records, 30 with character-shuffled responses and 30 with responses cut to their
    first third (English readings: long enough that neither is itself a valid answer)."""
    rng = random.Random(seed)
    good = number_skill(60, seed=seed, numbers=range(10, 100))
    en = [r for r in number_skill(200, seed=seed + 1, numbers=range(20, 100)) if r["lang"] == "en"]
    recs, kinds = [], []
    for r in good:
        recs.append(r), kinds.append("good")  # noqa: E702
    for r in en[30:60]:
        a = r["messages"][1]["content"]
        recs.append({"messages": [r["messages"][0], {"role": "assistant", "content": _scramble(a, rng)}]})
        kinds.append("shuffled")
    for r in en[:30]:
        a = r["messages"][1]["content"]
        recs.append({"messages": [r["messages"][0], {"role": "assistant", "content": a[:max(2, len(a) // 3)]}]})
        kinds.append("truncated")
    return recs, kinds


@pytest.mark.slow
def test_entropy_band_excludes_junk(tmp_path, base_dir):  # noqa: F811
    from lmforge.config import load_config
    from lmforge.cli import main
    from lmforge.sft.finetune import SFTConfig, run_sft

    # the "base" model: the tiny model after a short run on good data of this kind
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                             for r in number_skill(256, seed=1, numbers=range(100))), encoding="utf-8")
    y = tmp_path / "sft.yaml"
    y.write_text(f"out: {tmp_path / 'base'}\nmodel: {base_dir}\ndata: {{files: [{train}], max_len: 64}}\n"
                 "train: {max_steps: 120, lr: 5.0e-3, batch_size: 16, warmup_steps: 2, weight_decay: 0.0,"
                 " device: cpu, precision: fp32}\n")
    model = run_sft(load_config(SFTConfig, y, [])).model_dir

    recs, kinds = mixed_set()
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    held = tmp_path / "heldout.txt"  # held-out text of the kind the base model saw
    held.write_text("\n".join(r["messages"][1]["content"] for r in number_skill(64, seed=99)), encoding="utf-8")
    out = tmp_path / "sel"
    assert main(["select", "entropy", "--model", str(model), "--data", str(data), "--heldout", str(held),
                 "--out", str(out), "--low", "-1.0", "--high", "1.0", "clusters=3", "batch_size=32"]) == 0
    # (the band is +-1 nat around the base entropy here: the "held-out text" is the task's own
    # kind of text; MindLLM's +1.0..+1.5 is relative to entropy on general pretraining text)
    report = json.loads((out / "clusters.json").read_text())
    scored = [json.loads(x) for x in (out / "scored.jsonl").read_text().splitlines()]
    selected = {json.dumps(json.loads(x)["messages"], ensure_ascii=False)
                for x in (out / "selected.jsonl").read_text().splitlines()}
    picked = [k for r, k in zip(recs, kinds) if json.dumps(r["messages"], ensure_ascii=False) in selected]
    print("base entropy", round(report["base_entropy"], 3), "band", [round(b, 3) for b in report["band"]])
    for t in report["clusters"]:
        members = [k for s, k in zip(scored, kinds) if s["cluster"] == t["cluster"]]
        print(f"cluster {t['cluster']}: n={t['count']} mean={t['mean']:.3f} "
              + " ".join(f"{k}={members.count(k)}" for k in ("good", "shuffled", "truncated")))
    print("selected:", {k: picked.count(k) for k in ("good", "shuffled", "truncated")})
    junk = sum(k != "good" for k in picked)
    # measured (seeded): all 60 good kept; 0 of 30 shuffled and 13 of 30 truncated selected
    assert picked.count("good") >= 50  # most good samples kept
    assert junk <= 0.3 * 60, picked   # most of the 60 junk samples excluded
    assert (out / "histogram.png").stat().st_size > 0
