import json

import pytest
import torch

from lmforge.config import load_config
from lmforge.sft.finetune import DPOConfig, SFTConfig, run_dpo, run_sft
from lmforge.synth.skills import number_preferences, number_skill


def _write(path, recs):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    return str(path)


def _cfg(tmp_path, base_dir, files, out, steps, lr, batch=16, extra="", cls=SFTConfig):
    y = tmp_path / f"{out}.yaml"
    y.write_text(f"out: {tmp_path / out}\nmodel: {base_dir}\ndata:\n  files: {json.dumps(files)}\n  max_len: 64\n"
                 f"train:\n  max_steps: {steps}\n  lr: {lr}\n  batch_size: {batch}\n  warmup_steps: 2\n"
                 f"  weight_decay: 0.0\n  device: cpu\n  precision: fp32\n{extra}")
    return load_config(cls, y, [])


@pytest.mark.slow
def test_dpo_reward_accuracy_rises(tmp_path, base_dir):
    pairs = number_preferences(32, seed=1, numbers=range(20))
    pairs.append({"prompt": "x", "chosen": "same", "rejected": "same"})
    cfg = _cfg(tmp_path, base_dir, [_write(tmp_path / "p.jsonl", pairs)], "dpo", 30, 5e-3,
               extra="dpo:\n  beta: 0.1\n", cls=DPOConfig)
    run_dpo(cfg)
    lines = [json.loads(x) for x in (tmp_path / "dpo" / "metrics.jsonl").read_text().splitlines()]
    acc = [x["rewards/accuracy"] for x in lines if "rewards/accuracy" in x]
    assert sum(acc[-5:]) / 5 > 0.9, acc  # batch 16 of 32 pairs: the last steps cover all
    assert (tmp_path / "dpo" / "model" / "config.json").is_file()


@pytest.mark.slow
def test_sft_learns_on_assistant_tokens(tmp_path, base_dir):
    recs = number_skill(128, seed=2, numbers=range(10))
    cfg = _cfg(tmp_path, base_dir, [_write(tmp_path / "s.jsonl", recs)], "sft", 30, 5e-3)
    res = run_sft(cfg)
    lines = [json.loads(x) for x in (tmp_path / "sft" / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if "loss" in x]
    assert sum(losses[-3:]) / 3 < 0.6 * losses[0], losses
    assert torch.isfinite(torch.tensor(res.loss))


@pytest.mark.slow
def test_sft_teaches_number_reading_exact_match(tmp_path, base_dir):
    """The skill itself, not just the loss: greedy exact match on the 20 prompts (numbers 0-9 in
    zh and en) before and after SFT. The untrained model cannot produce a reading by chance."""
    from lmforge.eval.generation import chat_exact_match
    from lmforge.model import load_model
    from lmforge.tokenizer import Tokenizer

    tok = Tokenizer.from_dir(base_dir)
    probe = [r for lang in ("zh", "en") for r in number_skill(400, seed=5, numbers=range(10))
             if r["lang"] == lang]
    probe = list({r["messages"][0]["content"]: r for r in probe}.values())
    assert len(probe) == 20
    before = chat_exact_match(load_model(base_dir), tok, probe)["exact_match"]
    recs = number_skill(256, seed=2, numbers=range(10))
    cfg = _cfg(tmp_path, base_dir, [_write(tmp_path / "s.jsonl", recs)], "sft", 300, 3e-3)
    after = chat_exact_match(load_model(run_sft(cfg).model_dir), tok, probe)
    print(f"number-reading exact match: before {before:.2f}, after {after['exact_match']:.2f}")
    assert before == 0.0
    assert after["exact_match"] >= 0.8, after["examples"]


@pytest.mark.slow
def test_sft_with_lora_saves_merged_plain_checkpoint(tmp_path, base_dir):
    from lmforge.model.io import read_weights

    recs = number_skill(64, seed=3, numbers=range(10))
    cfg = _cfg(tmp_path, base_dir, [_write(tmp_path / "s.jsonl", recs)], "lora", 6, 5e-3,
               extra="lora:\n  r: 4\n  alpha: 8\n  targets: [q_proj, down_proj]\n")
    res = run_sft(cfg)
    base, got = read_weights(base_dir), read_weights(res.model_dir)
    assert sorted(got) == sorted(base)  # no adapter or base_layer keys left
    changed = {k for k in base if not torch.equal(base[k], got[k])}
    assert changed and all(k.endswith(("q_proj.weight", "down_proj.weight")) for k in changed), changed
    meta = json.loads((res.model_dir / "lmforge.json").read_text())["lineage"][-1]
    assert meta["details"]["lora"]["merged"] and meta["created_by"] == "lmforge sft"
    trainable = meta["details"]["trainable_parameters"]
    assert trainable == 2 * 2 * 2  # 2 layers x 2 targets x (lora_A, lora_B)


def test_lora_config_rejects_unknown_key(tmp_path, base_dir):
    with pytest.raises(Exception, match="rank"):
        _cfg(tmp_path, base_dir, [_write(tmp_path / "s.jsonl", number_skill(4))], "x", 2, 1e-3,
             extra="lora:\n  rank: 4\n")
