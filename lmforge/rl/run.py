"""`run_rl(RLConfig)`: GRPO or PPO on prompts with reference answers and rewards, run by the one
training loop (the rollouts are its batch source, the loss its objective), or rejection sampling
(best of K, then SFT: rejection.py); the `lmforge rl` verb and the `rl` recipe stage are derived
from the config (config.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lmforge.model import load_model
from lmforge.model.io import read_json, save_model
from lmforge.report import read_metrics
from lmforge.rl.config import RLConfig
from lmforge.rl.grpo import grpo_objective
from lmforge.rl.lora import AdaptersOff
from lmforge.rl.ppo import policy_with_value, ppo_objective, without_value_head
from lmforge.rl.ppo_rollout import PPORollouts
from lmforge.rl.rejection import RejectionResult, run_rejection
from lmforge.rl.rewards import RewardSet
from lmforge.rl.rollout import RolloutSource, read_prompts, sampling_params
from lmforge.sft.lora import add_lora, merge_lora
from lmforge.train.boundary import check_context, check_model_folder
from lmforge.train.trainer import TrainResult, pick_device, train

__all__ = ["RLConfig", "RLResult", "run_rl"]


@dataclass
class RLResult:
    train: TrainResult
    model_dir: Path
    reward_first: float | None  # mean reward of the first 5 logged steps
    reward_last: float | None  # ... and of the last 5
    kl_last: float | None
    rejection: RejectionResult | None = None  # rejection sampling: prompts, kept, mean and best reward


def _curve(run_dir: Path) -> tuple[float | None, float | None, float | None]:
    rows = [r for r in read_metrics(run_dir / "metrics.jsonl") if "reward" in r]
    if not rows:
        return None, None, None
    mean = lambda part, key: sum(r.get(key, 0.0) for r in part) / len(part)
    return mean(rows[:5], "reward"), mean(rows[-5:], "reward"), mean(rows[-5:], "kl") if "kl" in rows[-1] else None


def _dist() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def rollout_source(cfg: RLConfig, policy, reference, tok, prompts: list[dict]) -> RolloutSource:
    rewards = RewardSet(cfg.rewards, pick_device(cfg.train.device))
    params = sampling_params(cfg.sampling, tok, policy.config)
    t = cfg.train
    if cfg.algorithm == "ppo":
        p = cfg.ppo
        return PPORollouts(policy, reference, tok, prompts, rewards, t.batch_size, params, p.kl_coef, p.gamma,
                           p.lam, p.epochs, p.whiten_advantages, p.whiten_scores, t.seed, t.precision, *_dist())
    return RolloutSource(policy, reference, tok, prompts, rewards, cfg.grpo.group, t.batch_size, params,
                         cfg.grpo.scale_rewards, t.seed, t.precision, *_dist())


def _objective(cfg: RLConfig):
    if cfg.algorithm == "ppo":
        p = cfg.ppo
        return ppo_objective(p.cliprange, p.cliprange_value, p.vf_coef), {"ppo": p.model_dump()}
    g = cfg.grpo
    return (grpo_objective(g.beta, g.epsilon_low, g.epsilon_high, g.loss_type, cfg.sampling.max_new_tokens),
            {"grpo": g.model_dump()})


def _uses_reference(cfg: RLConfig) -> bool:
    return bool(cfg.ppo.kl_coef if cfg.algorithm == "ppo" else cfg.grpo.beta)


def build_policy(cfg: RLConfig):
    """The start model (PPO: with a zero value head), with LoRA adapters when `cfg.lora` asks;
    then only the adapters (and PPO's value head) train. The adapters' random init is drawn from
    `train.seed`, so the same config starts from the same adapters in any process."""
    policy = load_model(cfg.model)
    if cfg.algorithm == "ppo":
        policy = policy_with_value(policy)
    if cfg.lora is not None:
        lo = cfg.lora
        policy = add_lora(policy, lo.r, lo.alpha, lo.dropout, lo.targets, seed=cfg.train.seed)
        if cfg.algorithm == "ppo":
            policy.v_head.requires_grad_(True)
    return policy


def build_reference(cfg: RLConfig, policy):
    """The frozen KL reference: None without a KL term; with LoRA the policy with its adapters
    off (the start model, no second copy); else a frozen copy of the start model."""
    if not _uses_reference(cfg):
        return None
    if cfg.lora is not None:
        return AdaptersOff(policy)
    return load_model(cfg.model).eval().requires_grad_(False)


def _plain_folder(result: TrainResult, policy, cfg: RLConfig) -> None:
    """Rewrite the saved folder as a plain causal LM (as the next stage loads it): LoRA adapters
    merged into the weights (W + alpha/r BA), PPO's value head left out."""
    if cfg.algorithm != "ppo" and cfg.lora is None:
        return
    entry = read_json(result.model_dir / "lmforge.json")["lineage"][-1]
    details = entry["details"]
    model = policy.cpu()
    if cfg.lora is not None:
        model = merge_lora(model)
        details = {**details, "lora": {**cfg.lora.model_dump(), "merged": True}}
    if cfg.algorithm == "ppo":
        model = without_value_head(model)
    save_model(model, result.model_dir, created_by=entry["created_by"], parent=cfg.model, details=details,
               copy_from=cfg.model)


def run_rl(cfg: RLConfig) -> RLResult:
    """GRPO, PPO or rejection sampling from `cfg.model`; the KL reference is the frozen start model."""
    if cfg.algorithm == "rejection_sampling":
        rs = run_rejection(cfg)
        return RLResult(rs.train, rs.train.model_dir, None, None, None, rs)
    shape, tok = check_model_folder(cfg.model)
    prompts = read_prompts(cfg.prompts.files, tok, cfg.prompts.prompt_key, cfg.prompts.answer_key)
    check_context("longest prompt + sampling.max_new_tokens",
                  max(len(p["ids"]) for p in prompts) + cfg.sampling.max_new_tokens, shape, cfg.model)
    policy = build_policy(cfg)
    reference = build_reference(cfg, policy)
    objective, options = _objective(cfg)
    result = train(policy, objective, rollout_source(cfg, policy, reference, tok, prompts), cfg.train, cfg.out,
                   tokenizer_dir=cfg.model, parent=cfg.model, created_by="lmforge rl",
                   details={"algorithm": cfg.algorithm, **options, "prompts": len(prompts),
                            "rewards": [r.model_dump() for r in cfg.rewards]})
    if not result.interrupted and _dist()[0] == 0:
        _plain_folder(result, policy, cfg)
    first, last, kl = _curve(Path(cfg.out))
    return RLResult(result, result.model_dir, first, last, kl)
