"""Rollouts for GRPO: prompts with reference answers, G sampled completions per prompt from the
policy being trained (lmforge's batched KV-cache generation), rule rewards, group advantages and
the frozen reference's log-probs, served to the one training loop as a batch source."""

from __future__ import annotations

import random
from contextlib import nullcontext
from typing import Any

import torch
import torch.distributed as dist

from lmforge.errors import UserError
from lmforge.model.generate import SamplingParams, generate
from lmforge.model.loader import stop_token_ids
from lmforge.model.loss import IGNORE
from lmforge.model.transformer import CausalLM
from lmforge.rl.config import Sampling
from lmforge.rl.grpo import ScaleRewards, group_advantages
from lmforge.rl.rewards import RewardSet
from lmforge.text import iter_jsonl
from lmforge.tokenizer.chat_template import ChatFormatError, render
from lmforge.tokenizer.core import Tokenizer
from lmforge.train.objectives import masked_token_logprobs


def _prompt_messages(rec: dict[str, Any], prompt_key: str) -> list[dict] | None:
    """The prompt of a record: `prompt_key` (text = one user turn, or a message list), else an
    SFT-style `messages` list without its trailing assistant reply (e.g. a skill-test record)."""
    if prompt_key in rec:
        p = rec[prompt_key]
        return [{"role": "user", "content": p}] if isinstance(p, str) else p
    msgs = rec.get("messages")
    if not isinstance(msgs, list):
        return None
    while msgs and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "assistant":
        msgs = msgs[:-1]
    return msgs or None


def sampling_params(s: Sampling, tok: Tokenizer, model_cfg, seed: int | None = None) -> SamplingParams:
    """The engine's sampling settings for a config's `sampling` section, stopping at the model's
    end-of-turn tokens."""
    return SamplingParams(max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_k=s.top_k,
                          top_p=s.top_p, stop_token_ids=stop_token_ids(tok, model_cfg), seed=seed)


def read_prompts(files: list[str], tok: Tokenizer, prompt_key: str = "prompt",
                 answer_key: str = "answer") -> list[dict[str, Any]]:
    """{"ids", "answer", "messages"} per record: the prompt (see `_prompt_messages`) rendered
    with the chat template and a generation prompt; a bad record is an error naming file:line."""
    out = []
    for f in files:
        for where, rec in iter_jsonl(f, strict=True):
            msgs = _prompt_messages(rec, prompt_key)
            if msgs is None or answer_key not in rec:
                raise UserError(f"{where}: a prompt record needs '{prompt_key}' (or SFT-style 'messages') and "
                                f"'{answer_key}', has {sorted(rec)}")
            try:
                ids, _ = render(tok, msgs, add_generation_prompt=True)
            except ChatFormatError as e:
                raise UserError(f"{where}: {e}") from None
            out.append({"ids": ids, "answer": str(rec[answer_key]), "messages": msgs})
    if not out:
        raise UserError(f"{', '.join(files)}: no prompts")
    return out


def layout(prompts: list[list[int]], completions: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-padded prompts then right-padded completions in one row each (as TRL lays them out):
    `input_ids`, `attention_mask`, and `labels` = the completion tokens, -100 elsewhere."""
    pw, cw = max(len(p) for p in prompts), max(1, max(len(c) for c in completions))
    b = len(prompts)
    ids = torch.full((b, pw + cw), pad_id, dtype=torch.long)
    att = torch.zeros((b, pw + cw), dtype=torch.long)
    labels = torch.full((b, pw + cw), IGNORE, dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        ids[i, pw - len(p):pw], att[i, pw - len(p):pw] = torch.tensor(p), 1
        if c:
            ids[i, pw:pw + len(c)], att[i, pw:pw + len(c)] = torch.tensor(c), 1
            labels[i, pw:pw + len(c)] = torch.tensor(c)
    return {"input_ids": ids, "attention_mask": att, "labels": labels}


def share_stats(batch: dict[str, torch.Tensor], rewards: torch.Tensor, world: int) -> None:
    """With several processes, every `stat/*` scalar becomes the mean over the processes (each
    holds an equal share of the step's rollouts, so a mean of means is the global mean) and
    `stat/reward_std` the std of all processes' rewards: the logged curve is the global batch's."""
    if world == 1 or not dist.is_initialized():
        return
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    keys = sorted(k for k in batch if k.startswith("stat/") and k != "stat/reward_std")
    means = torch.stack([batch[k].float() for k in keys]).to(device)
    dist.all_reduce(means)
    for k, v in zip(keys, (means / world).cpu()):
        batch[k] = v
    everyone = [torch.empty_like(rewards, device=device) for _ in range(world)]
    dist.all_gather(everyone, rewards.to(device))
    batch["stat/reward_std"] = torch.cat(everyone).std().cpu()


def autocast_for(device: torch.device, precision: str):
    """The training loop's precision rule (bf16 autocast on CUDA unless fp32), for rollout passes."""
    bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else nullcontext


class RolloutSource:
    """Each `next_batch` samples `group` completions for `batch_size // group` prompts with the
    current policy and scores them (BatchSource protocol). Prompts go in shuffled epochs; the
    sampling seed is (seed, rollout number), so a run resumed at a step boundary samples exactly
    what the uninterrupted run sampled."""

    def __init__(self, policy: CausalLM, reference: CausalLM | None, tok: Tokenizer, prompts: list[dict],
                 rewards: RewardSet, group: int, batch_size: int, params: SamplingParams,
                 scale: ScaleRewards = "group", seed: int = 0, precision: str = "auto",
                 rank: int = 0, world: int = 1):
        if batch_size % group:
            raise UserError(f"train.batch_size ({batch_size}) must be a multiple of grpo.group ({group})")
        self.policy, self.reference, self.tok, self.prompts = policy, reference, tok, prompts
        self.rewards, self.group, self.per_batch, self.params = rewards, group, batch_size // group, params
        self.scale, self.seed, self.precision, self.rank, self.world = scale, seed, precision, rank, world
        self.drawn, self.rollouts = 0, 0  # prompts drawn by all processes; rollouts by this one
        self._orders: dict[int, list[int]] = {}

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            idx = list(range(len(self.prompts)))
            random.Random(self.seed + epoch).shuffle(idx)
            self._orders = {epoch: idx}
        return self._orders[epoch]

    def _take(self) -> list[dict]:
        """This process's share of the next prompts (shuffled epochs over the prompt list)."""
        n = len(self.prompts)
        start = self.drawn + self.rank * self.per_batch
        picked = [self.prompts[self._order(k // n)[k % n]] for k in range(start, start + self.per_batch)]
        self.drawn += self.per_batch * self.world
        return picked

    def _sample(self, prompts: list[list[int]]) -> list[list[int]]:
        was = self.policy.training
        self.policy.eval()
        device = next(self.policy.parameters()).device
        params = SamplingParams(**{**vars(self.params), "seed": (self.seed * 1_000_003 + self.rollouts * 1009 + self.rank) % 2**63})
        with autocast_for(device, self.precision)():
            out = generate(self.policy, prompts, params, pad_id=self.tok.pad_id or 0)
        self.policy.train(was)
        return out

    @torch.no_grad()
    def _reference_logps(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        device = next(self.reference.parameters()).device
        with autocast_for(device, self.precision)():
            lp, _ = masked_token_logprobs(self.reference, *(batch[k].to(device) for k in
                                                            ("input_ids", "labels", "attention_mask")))
        return lp.float().cpu()

    def rollout(self) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[list[int]]]:
        """The next prompts, `group` sampled completions each, laid out (see `layout`), with
        their rewards (total) and `stat/*` scalars (reward, each reward's part, lengths)."""
        chosen = self._take()
        prompts = [p["ids"] for p in chosen for _ in range(self.group)]
        answers = [p["answer"] for p in chosen for _ in range(self.group)]
        messages = [p.get("messages", []) for p in chosen for _ in range(self.group)]
        completions = self._sample(prompts)
        self.rollouts += 1
        texts = [self.tok.decode(c) for c in completions]
        total, parts = self.rewards.score(texts, answers, messages)
        rewards = torch.tensor(total, dtype=torch.float32)
        batch = layout(prompts, completions, self.tok.pad_id or 0)
        batch["stat/reward"] = rewards.mean()
        batch["stat/reward_std"] = rewards.std() if len(total) > 1 else torch.tensor(0.0)
        batch["stat/completion_len"] = torch.tensor(sum(map(len, completions)) / len(completions))
        for name, vals in parts.items():
            batch[f"stat/reward_{name}"] = torch.tensor(sum(vals) / len(vals))
        return batch, rewards, completions

    def next_batch(self) -> dict[str, torch.Tensor]:
        batch, rewards, _ = self.rollout()
        share_stats(batch, rewards, self.world)
        batch["advantages"] = group_advantages(rewards, self.group, self.scale)
        if self.reference is not None:
            self.reference.to(next(self.policy.parameters()).device)
            batch["ref_logps"] = self._reference_logps(batch)
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"drawn": self.drawn, "rollouts": self.rollouts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.drawn, self.rollouts = state["drawn"], state["rollouts"]

