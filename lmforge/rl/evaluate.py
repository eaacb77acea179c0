"""A policy's mean reward on held-out prompts, scored by the same rewards RL trains on (with each
reward's own mean), so a recipe can report it after every step: of greedy completions, or of
`samples` completions per prompt drawn as in the rollouts (the expected reward RL maximizes;
greedy decoding can move the other way while it rises)."""

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
                  device: str = "cpu", samples: int = 0, temperature: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """{"mean_reward", "n" (prompts), "per_prompt" (each prompt's mean), "reward_<name>" per reward}
    of greedy completions (`samples` 0) or of `samples` completions per prompt at `temperature`."""
    loaded = load_for_inference(model_dir, device=device)
    model, tok = loaded.model, loaded.tokenizer
    prompts = read_prompts([prompts_file], tok, prompt_key, answer_key)
    per = max(samples, 1)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature if samples else 0.0,
                            stop_token_ids=stop_token_ids(tok, model.config), seed=seed)
    asked = [p for p in prompts for _ in range(per)]
    texts: list[str] = []
    for i in range(0, len(asked), batch_size):
        params.seed = seed * 1_000_003 + i
        out = generate(model, [p["ids"] for p in asked[i:i + batch_size]], params, pad_id=tok.pad_id or 0)
        texts += [tok.decode(c).strip() for c in out]
    total, parts = RewardSet(rewards, device).score(texts, [p["answer"] for p in asked],
                                                    [p["messages"] for p in asked])
    per_prompt = [sum(total[i:i + per]) / per for i in range(0, len(total), per)]
    result: dict[str, Any] = {"mean_reward": sum(total) / len(total), "n": len(prompts), "per_prompt": per_prompt}
    result.update({f"reward_{k}": sum(v) / len(v) for k, v in parts.items()})
    return result
