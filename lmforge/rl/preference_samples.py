"""Preference pairs from a policy's own samples: Llama 2-Chat's collection step (annotators compare
two responses of the current models), with a reward as the annotator (a rule such as exact match,
a regex, a judge endpoint or a reward-model folder). Per prompt, K samples (and, optionally, the
reference answer) are scored; the best is chosen against the lowest-scoring others, a tie gives no pair. A
reward model trained on such pairs has seen what the policy actually writes, including its junk,
which pairs written by hand miss and a policy then finds (reward hacking)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ConfigDict, Field
from tqdm import tqdm

from lmforge.files import atomic_write_json
from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.model import load_model
from lmforge.model.folder import ModelFolder
from lmforge.model.generate import generate
from lmforge.rl.config import PromptData, Sampling
from lmforge.rl.rewards import RewardSet, RewardSpec
from lmforge.rl.rollout import read_prompts, sampling_params
from lmforge.train.boundary import check_context, check_model_folder
from lmforge.train.trainer import pick_device

PAIRS = "pairs.jsonl"
STATS = "stats.json"


class PreferenceSamplesConfig(ModelFolder):
    """`model` is the policy whose samples are compared."""
    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="folder: pairs.jsonl ({prompt, chosen, rejected, margin}) and stats.json")
    prompts: PromptData
    rewards: list[RewardSpec] = Field(min_length=1, description=(
        "the annotator: rewards summed with their weights (rules, a reward-model folder, a judge endpoint)"))
    k: int = Field(4, gt=1, description="completions sampled per prompt")
    pairs_per_prompt: int = Field(1, gt=0, description=(
        "the best candidate against this many of the lowest-scoring distinct others (1: best against worst)"))
    reference_competes: bool = Field(True, description=(
        "the prompt's reference answer is one more candidate (a reply the annotator wrote), so a prompt "
        "whose samples are all bad still gives a pair"))
    sampling: Sampling = Field(default_factory=Sampling)
    batch_size: int = Field(32, gt=0, description="prompts sampled together")
    seed: int = Field(0, ge=0, description="sampling seed")
    device: str = Field("auto", description="auto, cpu, cuda, mps")


@dataclass
class PreferenceSamples:
    prompts: int
    pairs: int
    ties: int  # prompts whose candidates all scored the same: no pair
    mean_reward: float  # over all samples
    path: Path


def _pairs(messages: list[dict], candidates: list[str], scores: list[float], n: int) -> list[dict[str, Any]]:
    """The best candidate (the first of equals) against the `n` lowest-scoring distinct texts that
    score below it; none when every candidate scores the same."""
    best = max(range(len(scores)), key=lambda i: scores[i])
    lower: dict[str, float] = {}
    for i in sorted(range(len(scores)), key=lambda i: scores[i]):
        if scores[i] < scores[best] and candidates[i] != candidates[best]:
            lower.setdefault(candidates[i], scores[i])
    return [{"prompt": messages, "chosen": candidates[best], "rejected": text, "margin": scores[best] - score}
            for text, score in list(lower.items())[:n]]


@torch.no_grad()
def _sample_and_score(cfg: PreferenceSamplesConfig, prompts: list[dict], tok) -> tuple[list[dict], list[float], int]:
    device = pick_device(cfg.device)
    model = load_model(cfg.model, device=device)
    rewards, k = RewardSet(cfg.rewards, device), cfg.k
    pairs, sample_rewards, ties = [], [], 0
    for start in tqdm(range(0, len(prompts), cfg.batch_size), desc="sample pairs", unit="batch"):
        part = prompts[start:start + cfg.batch_size]
        params = sampling_params(cfg.sampling, tok, model.config, cfg.seed * 1_000_003 + start)
        out = generate(model, [p["ids"] for p in part for _ in range(k)], params, pad_id=tok.pad_id or 0)
        texts = [tok.decode(c).strip() for c in out]
        extra = 1 if cfg.reference_competes else 0
        candidates = [texts[i * k:(i + 1) * k] + [p["answer"]] * extra for i, p in enumerate(part)]
        flat = [c for cs in candidates for c in cs]
        total, _ = rewards.score(flat, [p["answer"] for p, cs in zip(part, candidates) for _ in cs],
                                 [p["messages"] for p, cs in zip(part, candidates) for _ in cs])
        width = k + extra
        for i, p in enumerate(part):
            scores = total[i * width:(i + 1) * width]
            sample_rewards += scores[:k]
            found = _pairs(p["messages"], candidates[i], scores, cfg.pairs_per_prompt)
            ties += not found
            pairs += found
    return pairs, sample_rewards, ties


def run_preference_samples(cfg: PreferenceSamplesConfig) -> PreferenceSamples:
    """Sample, score and pair; the pairs file is in the DPO / `lmforge rm` format."""
    shape, tok = check_model_folder(cfg.model)
    prompts = read_prompts(cfg.prompts.files, tok, cfg.prompts.prompt_key, cfg.prompts.answer_key)
    longest = max(len(p["ids"]) for p in prompts) + cfg.sampling.max_new_tokens
    check_context("longest prompt + sampling.max_new_tokens", longest, shape, cfg.model)
    pairs, sample_rewards, ties = _sample_and_score(cfg, prompts, tok)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out / PAIRS, pairs)
    stats = PreferenceSamples(len(prompts), len(pairs), ties, sum(sample_rewards) / len(sample_rewards), out / PAIRS)
    atomic_write_json(out / STATS, {**vars(stats), "path": str(stats.path)})
    return stats
