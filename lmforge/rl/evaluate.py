"""A policy's mean reward on held-out prompts: greedy completions scored by the same rewards RL
trains on (with each reward's own mean), so a recipe can report it after every step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lmforge.model.generate import SamplingParams, generate
from lmforge.model.loader import load_for_inference, stop_token_ids
from lmforge.rl.rewards import RewardSet
from lmforge.rl.rollout import read_prompts


@torch.no_grad()
def policy_reward(model_dir: str | Path, prompts_file: str, rewards: list[Any], max_new_tokens: int = 64,
                  prompt_key: str = "prompt", answer_key: str = "answer", batch_size: int = 32,
                  device: str = "cpu") -> dict[str, float]:
    """{"mean_reward", "n", "reward_<name>" per reward} of greedy completions of the prompts."""
    loaded = load_for_inference(model_dir, device=device)
    model, tok = loaded.model, loaded.tokenizer
    prompts = read_prompts([prompts_file], tok, prompt_key, answer_key)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0,
                            stop_token_ids=stop_token_ids(tok, model.config))
    texts: list[str] = []
    for i in range(0, len(prompts), batch_size):
        out = generate(model, [p["ids"] for p in prompts[i:i + batch_size]], params, pad_id=tok.pad_id or 0)
        texts += [tok.decode(c).strip() for c in out]
    total, parts = RewardSet(rewards, device).score(texts, [p["answer"] for p in prompts],
                                                    [p["messages"] for p in prompts])
    result = {"mean_reward": sum(total) / len(total), "n": len(total)}
    result.update({f"reward_{k}": sum(v) / len(v) for k, v in parts.items()})
    return result
