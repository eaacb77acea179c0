from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import torch

from lmforge.config import ConfigError, load_config
from lmforge.model import load_model
from lmforge.train.checkpoint import checkpoints
from lmforge.train.pretrain import PretrainConfig, run_pretrain
from lmforge.train.trainer import drop_rows_after

from .conftest import CLI, ENV, read_losses as losses


def test_pretrain_learns_and_writes_hf_folder(write_config, tmp_path):
    cfg = load_config(PretrainConfig, write_config(max_steps=30))
    result, seen = run_pretrain(cfg)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [r["val_loss"] for r in rows if "val_loss" in r]
    assert val[-1] < val[0] - 0.3 and result.step == 30
    assert abs(seen["en"] - seen["zh"]) <= 64
    model = load_model(tmp_path / "run" / "model")
    assert (tmp_path / "run" / "model" / "tokenizer.json").is_file() and model.config.num_hidden_layers == 2


@pytest.mark.slow
def test_sigkill_resume_is_bit_identical(write_config, tmp_path):
    ref_cfg = write_config(max_steps=16, save_every=2)
    subprocess.run(CLI + ["pretrain", str(ref_cfg), f"out={tmp_path / 'ref'}"], check=True, env=ENV,
                   capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(CLI + ["pretrain", str(ref_cfg), f"out={run}"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_at = 7
    while not (run / "metrics.jsonl").exists() or len(losses(run)) < kill_at:
        time.sleep(0.05)
        assert proc.poll() is None, "run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < len(checkpoints(run)) and not (run / "model").exists()
    subprocess.run(CLI + ["pretrain", str(ref_cfg), f"out={run}"], check=True, env=ENV, capture_output=True)
    assert losses(run) == losses(tmp_path / "ref")  # exact float equality, every step
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 17))  # the rows logged after the last checkpoint were not kept twice


def test_drop_rows_after_keeps_the_checkpointed_steps(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": i, "loss": 1.0 / i}) + "\n" for i in range(1, 7)) + '{"step": 7, "lo')
    assert drop_rows_after(metrics, 4) == 3  # steps 5, 6 and the line the kill cut short
    assert [json.loads(x)["step"] for x in metrics.read_text().splitlines()] == [1, 2, 3, 4]
    assert drop_rows_after(metrics, 4) == 0 and drop_rows_after(tmp_path / "none.jsonl", 4) == 0


def test_sigterm_saves_checkpoint_then_resume_completes(write_config, tmp_path):
    cfg_path = write_config(max_steps=400, save_every=0)
    run = tmp_path / "run"
    proc = subprocess.Popen(CLI + ["pretrain", str(cfg_path)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    while not (run / "metrics.jsonl").exists() or len(losses(run)) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert "interrupted" in out and len(checkpoints(run)) == 1
    step = int(checkpoints(run)[0].name.split("-")[1])
    result, _ = run_pretrain(load_config(PretrainConfig, cfg_path, ["train.max_steps=" + str(step + 2)]))
    assert result.step == step + 2 and not result.interrupted


def test_half_written_checkpoint_is_never_loaded(tmp_path):
    root = tmp_path / "checkpoints"
    (root / ".step-0000009.tmp-abc").mkdir(parents=True)  # killed during write
    (root / "step-0000008").mkdir()  # no trainer_state.pt: incomplete
    (root / "step-0000004").mkdir()
    (root / "step-0000004" / "trainer_state.pt").write_bytes(b"x")
    assert [p.name for p in checkpoints(tmp_path)] == ["step-0000004"]


def test_embedding_only_training_changes_only_embeddings(write_config, tmp_path):
    cfg = load_config(PretrainConfig, write_config(max_steps=3, train_only=["embed_tokens", "lm_head"]),
                      ["train.eval_every=0"])
    from lmforge.model import build_model, preset, save_model

    start = build_model(preset("tiny", vocab_size=1024 + 16, hidden_size=64, intermediate_size=128,
                               num_hidden_layers=2), seed=1)
    save_model(start, tmp_path / "start", created_by="test", copy_from=cfg.tokenizer)
    cfg.model = type(cfg.model).model_validate({"from": str(tmp_path / "start")})
    run_pretrain(cfg)
    after = load_model(tmp_path / "run" / "model").state_dict()
    for name, before in start.state_dict().items():
        same = torch.equal(before, after[name])
        assert same != (name in ("model.embed_tokens.weight", "lm_head.weight")), name


@pytest.mark.parametrize("override,msg", [
    ("train.lr=-1", "train.lr"), ("train.schedule=exotic", "train.schedule"),
    ("train.global_batch_tokens=1000", "multiple of"), ("data.path=/nope", "not a packed data folder"),
    ("train.warmup=3", "train.warmup: unknown key"),
])
def test_bad_config_is_an_error_before_training(write_config, override, msg):
    with pytest.raises((ConfigError, ValueError), match=msg):
        cfg = load_config(PretrainConfig, write_config(), [override])
        cfg.train.accumulation(1)


class RandomTokens:
    """A minimal BatchSource: the trainer needs nothing more."""

    def __init__(self, vocab: int = 64, shape: tuple[int, int] = (2, 16)) -> None:
        self.g = torch.Generator().manual_seed(0)
        self.vocab, self.shape = vocab, shape

    def next_batch(self) -> dict[str, torch.Tensor]:
        ids = torch.randint(0, self.vocab, self.shape, generator=self.g)
        return {"input_ids": ids, "labels": ids}

    def state_dict(self) -> dict:
        return {"rng": self.g.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.g.set_state(state["rng"])


def _tiny_model():
    from lmforge.model import build_model, preset

    return build_model(preset("tiny", vocab_size=64, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))


def test_nan_guard_skips_then_stops_with_a_clear_message(tmp_path):
    from lmforge.train.config import TrainConfig
    from lmforge.train.objectives import causal_lm
    from lmforge.train.trainer import TrainingError, train

    calls = []

    def flaky(model, batch):  # non-finite on the 2nd call only: skipped and counted
        loss, m = causal_lm(model, batch)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 2 else loss), m

    result = train(_tiny_model(), flaky, RandomTokens(), TrainConfig(max_steps=3, seq_len=16), tmp_path / "a")
    assert result.step == 3 and result.skipped_steps == 1

    def broken(model, batch):
        loss, m = causal_lm(model, batch)
        return loss * float("inf"), m

    with pytest.raises(TrainingError, match="non-finite for 2 steps in a row"):
        train(_tiny_model(), broken, RandomTokens(), TrainConfig(max_steps=5, seq_len=16, max_bad_steps=2),
              tmp_path / "b")


@pytest.mark.parametrize("schedule", ["cosine", "wsd", "constant"])
def test_schedules_warm_up_then_follow_their_shape(schedule):
    from lmforge.train.config import TrainConfig
    from lmforge.train.optim import lr_factor

    cfg = TrainConfig(max_steps=100, warmup_steps=10, schedule=schedule, min_lr_ratio=0.1, decay_fraction=0.2)
    f = [lr_factor(s, cfg) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b - 1e-12 for a, b in zip(f[10:], f[11:]))  # never rises after warmup
    if schedule == "constant":
        assert f[-1] == 1.0
    else:
        assert f[-1] == pytest.approx(0.1, abs=0.02)
    if schedule == "wsd":
        assert f[70] == 1.0 and f[85] < 1.0


def test_no_weight_decay_on_norms_biases_embeddings():
    from lmforge.train.config import TrainConfig
    from lmforge.train.optim import build_optimizer

    model = _tiny_model()
    opt = build_optimizer(model, TrainConfig())
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay = {names[id(p)] for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert "model.embed_tokens.weight" in no_decay and "model.norm.weight" in no_decay
    assert not any("proj" in n for n in no_decay)


def test_data_packed_with_another_tokenizer_is_refused(write_config, tmp_path, packed_dir):
    from lmforge.cli import main
    from lmforge.tokenizer import byte_tokenizer

    other = tmp_path / "other-tok"
    byte_tokenizer().save(other)
    assert main(["pretrain", str(write_config()), f"tokenizer={other}", "train.max_steps=1"]) == 2
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # refused before any step


def test_mismatch_message_names_both_folders(write_config, tmp_path, packed_dir):
    from lmforge.errors import UserError
    from lmforge.tokenizer import byte_tokenizer

    other = tmp_path / "other-tok"
    byte_tokenizer().save(other)
    cfg = load_config(PretrainConfig, write_config(), [f"tokenizer={other}"])
    with pytest.raises(UserError, match="packed with another tokenizer") as err:
        run_pretrain(cfg)
    assert str(packed_dir / "data") in str(err.value) and str(other) in str(err.value)
