"""Reward model: the loss equals TRL 1.16's RewardTrainer.compute_loss on the same batch
(TRL's method runs on transformers' AutoModelForSequenceClassification loading our saved
folder), the folder gives the same scores in transformers, and `lmforge rm` learns a toy preference."""

import json
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from lmforge.model import load_model
from lmforge.rl.reward_model import (
    MarginPairs,
    RMConfig,
    encode_rm_pairs,
    load_reward_model,
    reward_model_from,
    rm_objective,
    run_rm,
    save_reward_model,
)
from lmforge.synth.skills import number_preferences
from lmforge.tokenizer import Tokenizer

trl_reward = pytest.importorskip("trl.trainer.reward_trainer")
transformers = pytest.importorskip("transformers")


def _write(path, recs):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    return str(path)


def _trl_loss(model, inputs, center=None):
    acc = SimpleNamespace(gather=lambda x: x, gather_for_metrics=lambda x: x)
    stub = SimpleNamespace(model=SimpleNamespace(training=True), accelerator=acc, _tp_size=1,
                           args=SimpleNamespace(center_rewards_coefficient=center),
                           _metrics={"train": defaultdict(list)}, _total_train_tokens=0)
    return trl_reward.RewardTrainer.compute_loss(stub, model, dict(inputs)), stub._metrics["train"]


@pytest.fixture
def saved_rm(tmp_path, base_dir):
    tok = Tokenizer.from_dir(base_dir)
    rm = reward_model_from(load_model(base_dir), tok.pad_id, seed=3)
    save_reward_model(rm, tmp_path / "rm", created_by="test", copy_from=base_dir)
    recs = number_preferences(6, seed=4, numbers=range(20))
    for i, r in enumerate(recs):
        r["margin"] = float(i % 3)
    pairs, _ = encode_rm_pairs(tok, [_write(tmp_path / "p.jsonl", recs)], 256, "none", True)
    src = MarginPairs(pairs, len(pairs), tok.pad_id)
    src.order = list(range(len(pairs)))
    return rm, tmp_path / "rm", src.next_batch()


@pytest.mark.parametrize("margin,center", [(False, None), (True, 0.01)])
def test_rm_loss_and_grads_equal_trl(saved_rm, margin, center):
    rm, folder, batch = saved_rm
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(folder, torch_dtype=torch.float32)
    hf.eval()
    rm.eval()
    inputs = {"input_ids": torch.cat([batch["chosen_input_ids"], batch["rejected_input_ids"]]),
              "attention_mask": torch.cat([batch["chosen_attention_mask"], batch["rejected_attention_mask"]])}
    if margin:
        inputs["margin"] = batch["margin"]
    trl_loss, trl_metrics = _trl_loss(hf, inputs, center)
    trl_loss.backward()
    ours, metrics = rm_objective(center)(rm, batch if margin else {k: v for k, v in batch.items() if k != "margin"})
    ours.backward()
    diff = abs(ours.item() - trl_loss.item())
    hf_params = dict(hf.named_parameters())
    gdiff = max((p.grad - hf_params[n].grad).abs().max().item() for n, p in rm.named_parameters()
                if p.grad is not None)
    print(f"RM margin={margin}: |loss - TRL| {diff:.2e}, max |grad - TRL| {gdiff:.2e}")
    assert diff < 1e-5 and gdiff < 1e-5
    assert rm.lm_head.weight.grad is None  # the unused head is frozen
    assert metrics["accuracy"] == pytest.approx(trl_metrics["accuracy"][0])
    assert metrics["margin"] == pytest.approx(trl_metrics["margin"][0], abs=1e-6)


def test_saved_folder_is_a_transformers_classifier_with_our_scores(saved_rm):
    rm, folder, batch = saved_rm
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForSequenceClassification"] and cfg["num_labels"] == 1
    assert cfg["pad_token_id"] == rm.pad_token_id
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(folder, torch_dtype=torch.float32).eval()
    back = load_reward_model(folder)
    with torch.no_grad():
        for side in ("chosen", "rejected"):
            ids, att = batch[f"{side}_input_ids"], batch[f"{side}_attention_mask"]
            hf_scores = hf(input_ids=ids, attention_mask=att).logits.squeeze(-1)
            ours = rm.eval()(ids, attention_mask=att)
            print(f"{side}: max |ours - transformers| {(ours - hf_scores).abs().max().item():.2e}")
            torch.testing.assert_close(ours, hf_scores, rtol=0, atol=1e-5)
            torch.testing.assert_close(back(ids, attention_mask=att), ours, rtol=0, atol=0)
    assert ours.std() > 0  # rows really differ


def test_load_reward_model_refuses_a_causal_lm(base_dir):
    with pytest.raises(ValueError, match="not a reward model"):
        load_reward_model(base_dir)


@pytest.mark.slow
def test_rm_learns_number_preferences(tmp_path, base_dir):
    pairs = number_preferences(160, seed=1, numbers=range(10))
    held = number_preferences(40, seed=9, numbers=range(10))
    cfg = RMConfig(out=str(tmp_path / "rm"), model=str(base_dir),
                   data={"files": [_write(tmp_path / "p.jsonl", pairs)],
                         "heldout_files": [_write(tmp_path / "h.jsonl", held)], "max_len": 96},
                   train={"max_steps": 40, "batch_size": 16, "lr": 3e-3, "device": "cpu", "eval_every": 20})
    res = run_rm(cfg)
    print(f"held-out pair accuracy {res.heldout_accuracy:.3f} on {res.heldout_pairs} pairs")
    assert res.heldout_accuracy > 0.75  # measured 0.825 (40 steps)
    back = load_reward_model(res.model_dir)
    assert (res.model_dir / "tokenizer.json").is_file()
    assert json.loads((res.model_dir / "lmforge.json").read_text())["lineage"][-1]["details"]["heldout_accuracy"] \
        == res.heldout_accuracy
    assert back.score.weight.abs().sum() > 0
