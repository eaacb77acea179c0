"""Rejection-sampling fine-tuning (Llama 2-Chat): sample K completions per prompt from the start
model, keep the best by reward, and fine-tune on the winners with the one SFT path (`run_sft`).
The winners file (`out/winners.jsonl`, written atomically) is reused when a run is resumed, so
the SFT part resumes from its checkpoints on the same data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from lmforge.errors import UserError
from lmforge.files import atomic_write_text
from lmforge.model import load_model
from lmforge.model.generate import generate
from lmforge.rl.config import RLConfig
from lmforge.rl.rewards import RewardSet
from lmforge.rl.rollout import autocast_for, read_prompts, sampling_params
from lmforge.sft.finetune import SFTConfig, SFTData, run_sft
from lmforge.train.boundary import check_context, check_model_folder
from lmforge.train.trainer import TrainResult, pick_device

WINNERS = "winners.jsonl"
STATS = "rejection.json"


@dataclass
class RejectionResult:
    train: TrainResult
    prompts: int
    kept: int
    mean_reward: float  # over all K samples of every prompt
    best_reward: float  # over the kept winners


@torch.no_grad()
def best_of_k(cfg: RLConfig, prompts: list[dict], tok) -> tuple[list[dict], dict[str, float]]:
    """SFT records of each prompt's best completion (ties: the first sampled) and the stats."""
    device = pick_device(cfg.train.device)
    model = load_model(cfg.model, device=device)
    rewards = RewardSet(cfg.rewards, device)
    r, k = cfg.rejection, cfg.rejection.k
    winners, all_rewards, best = [], [], []
    for start in range(0, len(prompts), r.batch_size):
        part = prompts[start:start + r.batch_size]
        ids = [p["ids"] for p in part for _ in range(k)]
        params = sampling_params(cfg.sampling, tok, model.config, cfg.train.seed * 1_000_003 + start)
        with autocast_for(device, cfg.train.precision)():
            out = generate(model, ids, params, pad_id=tok.pad_id or 0)
        texts = [tok.decode(c).strip() for c in out]
        total, _ = rewards.score(texts, [p["answer"] for p in part for _ in range(k)],
                                 [p["messages"] for p in part for _ in range(k)])
        all_rewards += total
        for i, p in enumerate(part):
            scores = total[i * k:(i + 1) * k]
            nonempty = [n for n in range(k) if texts[i * k + n]]
            if not nonempty:
                continue
            j = max(nonempty, key=lambda n: scores[n])  # the first of equal bests
            if r.min_reward is not None and scores[j] < r.min_reward:
                continue
            best.append(scores[j])
            winners.append({"messages": [*p["messages"], {"role": "assistant", "content": texts[i * k + j]}],
                            "reward": scores[j]})
    stats = {"prompts": len(prompts), "kept": len(winners), "mean_reward": sum(all_rewards) / len(all_rewards),
             "best_reward": sum(best) / len(best) if best else 0.0}
    return winners, stats


def run_rejection(cfg: RLConfig) -> RejectionResult:
    """Best-of-K sampling from `cfg.model` by the rewards, then SFT on the winners into `cfg.out`."""
    out = Path(cfg.out)
    shape, tok = check_model_folder(cfg.model)
    prompts = read_prompts(cfg.prompts.files, tok, cfg.prompts.prompt_key, cfg.prompts.answer_key)
    longest = max(len(p["ids"]) for p in prompts) + cfg.sampling.max_new_tokens
    check_context("longest prompt + sampling.max_new_tokens", longest, shape, cfg.model)
    max_len = cfg.rejection.max_len or min(longest + 16, shape.max_position_embeddings)
    check_context("rejection.max_len", max_len, shape, cfg.model)
    if not (out / WINNERS).is_file() or not (out / STATS).is_file():
        winners, stats = best_of_k(cfg, prompts, tok)
        if not winners:
            raise UserError(f"rejection sampling kept no completion of {len(prompts)} prompts "
                             f"(rejection.min_reward={cfg.rejection.min_reward}); lower it or sample more")
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / WINNERS, "".join(json.dumps(w, ensure_ascii=False) + "\n" for w in winners))
        atomic_write_text(out / STATS, json.dumps(stats, indent=2))
    stats = json.loads((out / STATS).read_text())
    sft = SFTConfig(out=cfg.out, model=cfg.model, train=cfg.train, lora=cfg.lora,
                    data=SFTData(files=[str(out / WINNERS)], max_len=max_len, normalize="none"))
    result = run_sft(sft)
    return RejectionResult(result, stats["prompts"], stats["kept"], stats["mean_reward"], stats["best_reward"])
