"""The training-memory estimate against the measured peak of real training steps on CPU."""

import json
import os
import subprocess
import sys

import pytest

from lmforge.model import preset
from lmforge.model.flops import param_count
from lmforge.model.memory import TrainShape, estimate_training_memory, expected_tokens_per_s, parse_train_shape

# Runs in a fresh process: peak RSS growth (getrusage maxrss) of two training steps over the RSS
# with the model, optimizer and batch in place (lmforge's model, objective and optimizer, fp32).
MEASURE = r"""
import json, resource, sys, torch
from lmforge.model import build_model, preset
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import causal_lm
from lmforge.train.optim import build_optimizer
spec = json.loads(sys.argv[1])
torch.set_num_threads(1)  # one thread: the same allocation order every run
model = build_model(preset("tiny", **spec["model"]))
model.gradient_checkpointing, model.loss_impl = spec["ckpt"], spec["loss"]
opt = build_optimizer(model, TrainConfig(max_steps=1))
ids = torch.randint(0, spec["model"]["vocab_size"], (spec["batch"], spec["seq"]))
import ctypes
# Pin every page mapped so far (library code included): a reclaimer (this machine runs DAMON with
# a pageout scheme) can otherwise evict code pages before `base` and the step faults them back
# in, counted as growth. Without the privilege this is a no-op.
ctypes.CDLL(None, use_errno=True).mlockall(1)  # MCL_CURRENT
with open("/proc/self/statm") as f:
    base = int(f.read().split()[1]) * resource.getpagesize()
for _ in range(2):
    loss, _ = causal_lm(model, {"input_ids": ids, "labels": ids})
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
"""

SHAPES = [
    dict(model=dict(vocab_size=8000, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                    num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False),
         seq=256, batch=8, ckpt=False, loss="chunked"),
    dict(model=dict(vocab_size=32000, hidden_size=128, intermediate_size=352, num_hidden_layers=6,
                    num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False),
         seq=512, batch=4, ckpt=True, loss="full"),
]


@pytest.mark.slow
@pytest.mark.isolated
@pytest.mark.parametrize("spec", [
    pytest.param(SHAPES[0], id="chunked", marks=pytest.mark.xfail(strict=False, reason=(
        "one fresh-check (2026-11-30, 19:2x, right after the full suite, another job running) read 495 MB "
        "for this 318-324 MB step even with the fixed mmap threshold; the same clone read 318 MB minutes "
        "later, quiet, and the next fresh-check read too much again; suspected: DAMON's pageout evicting library code "
        "pages that the step faults back in (now pinned with mlockall before `base`); not yet confirmed (issue 21)"))),
    pytest.param(SHAPES[1], id="full+ckpt")])
def test_estimate_within_20_percent_of_measured_peak(spec):
    # glibc's malloc keeps freed blocks below its mmap threshold in the heap, and raises that
    # threshold (up to 32 MB) each time it frees a larger mmapped block: how much freed memory the
    # peak RSS includes then depends on everything the process allocated before (imports, other
    # tests, load): 346-370 MB here (370 with the threshold at its 32 MB ceiling; 490-820 MB was
    # reported from fresh clones) for a 318 MB step. A fixed threshold (this also turns the raising
    # off) gives every tensor over 64 KB its own mapping, returned when freed: RSS then follows the
    # live tensors (318 MB in a dev checkout and in a fresh clone, within 0.1%).
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")}
    env.update(MALLOC_MMAP_THRESHOLD_="65536", MALLOC_ARENA_MAX="1")
    measured = min(int(subprocess.run([sys.executable, "-c", MEASURE, json.dumps(spec)], check=True, env=env,
                                      capture_output=True, text=True, timeout=600).stdout.split()[-1])
                   for _ in range(3))  # the least of three: a reading can only be inflated, not deflated
    cfg = preset("tiny", **spec["model"])
    est = estimate_training_memory(cfg, TrainShape(seq_len=spec["seq"], batch_size=spec["batch"],
                                                   precision="fp32", activation_checkpointing=spec["ckpt"],
                                                   loss_impl=spec["loss"]))
    growth = est.peak - est.parameters  # the weights were in place before the measurement began
    assert abs(growth - measured) / measured < 0.2, (growth / 2**20, measured / 2**20)


def test_parts_scale_as_they_should():
    cfg = preset("tiny", vocab_size=125_700, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                 num_attention_heads=32, num_key_value_heads=4, tie_word_embeddings=False)
    one = estimate_training_memory(cfg, TrainShape(seq_len=4096, batch_size=8))
    fsdp = estimate_training_memory(cfg, TrainShape(seq_len=4096, batch_size=8, distributed="fsdp", gpus=8))
    assert one.parameters == 4 * param_count(cfg) and one.optimizer == 2 * one.parameters
    assert fsdp.optimizer == pytest.approx(one.optimizer / 8)
    assert one.activations_checkpointing < one.activations_no_checkpointing / 5
    assert one.logits_full > 15 * 2**30 > 10 * one.logits_chunked  # 8 x 4096 x 125,700 fp32 ~ 16 GB
    full = estimate_training_memory(cfg, TrainShape(seq_len=4096, batch_size=8, loss_impl="full"))
    assert full.peak - one.peak > 10 * 2**30


def test_tokens_per_s_from_the_one_peak_table():
    cfg = preset("tiny", vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                 num_attention_heads=32, num_key_value_heads=4)
    tps = expected_tokens_per_s(cfg, 2048, mfu=0.5, gpus=8, device="NVIDIA H200")
    from lmforge.model.flops import flops_per_token
    assert tps == pytest.approx(0.5 * 989e12 * 8 / flops_per_token(cfg, 2048))
    assert expected_tokens_per_s(cfg, 2048, 0.5, device="a toaster") is None


def test_parse_train_shape_names_bad_keys():
    shape, extra = parse_train_shape("seq_len=4096,batch_size=2,precision=bf16,distributed=fsdp,gpus=8,"
                                     "activation_checkpointing=true,mfu=0.4")
    assert (shape.seq_len, shape.gpus, shape.activation_checkpointing, extra) == (4096, 8, True, {"mfu": "0.4"})
    with pytest.raises(ValueError, match="unknown key 'sequence'"):
        parse_train_shape("sequence=5")
