from __future__ import annotations

import pytest
import torch

from lmforge.model import build_model, save_model
from lmforge.model.generate import SamplingParams, generate


def test_kv_cache_matches_full_recompute(tiny_model):
    prompts = [[5, 6, 7, 8, 9], [11, 12]]
    p = SamplingParams(max_new_tokens=12)
    assert generate(tiny_model, prompts, p) == generate(tiny_model, prompts, p, use_cache=False)


def test_batched_left_padding_equals_one_by_one(tiny_model):
    prompts = [[5, 6, 7, 8, 9, 10, 3], [11, 12]]
    p = SamplingParams(max_new_tokens=10)
    batched = generate(tiny_model, prompts, p)
    assert batched == [generate(tiny_model, [x], p)[0] for x in prompts]


def test_stop_token_ends_sequence(tiny_model):
    first = generate(tiny_model, [[5, 6, 7]], SamplingParams(max_new_tokens=6))[0]
    stop = first[2]
    out = generate(tiny_model, [[5, 6, 7]], SamplingParams(max_new_tokens=6, stop_token_ids=[stop]))[0]
    assert out == first[: first.index(stop) + 1]


def test_sampling_is_seeded_and_streams(tiny_model):
    streamed = []
    p = SamplingParams(max_new_tokens=8, temperature=1.0, top_k=50, top_p=0.9, seed=7)
    a = generate(tiny_model, [[1, 2, 3]], p, on_token=lambda r, t: streamed.append(t))
    b = generate(tiny_model, [[1, 2, 3]], p)
    assert a == b and streamed == a[0]


def test_top_k_one_is_greedy(tiny_model):
    greedy = generate(tiny_model, [[4, 5]], SamplingParams(max_new_tokens=8))
    k1 = generate(tiny_model, [[4, 5]], SamplingParams(max_new_tokens=8, temperature=0.7, top_k=1, seed=0))
    assert greedy == k1


def test_bad_sampling_params():
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        SamplingParams(max_new_tokens=-1)


@pytest.mark.peer
@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_matches_transformers_generate(tmp_path, tiny_config, penalty):
    transformers = pytest.importorskip("transformers")
    model = build_model(tiny_config, seed=11).eval()
    save_model(model, tmp_path / "m", created_by="test")
    ref = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "m").eval()
    prompt = [3, 17, 42, 99, 7]
    ours = generate(model, [prompt], SamplingParams(max_new_tokens=20, repetition_penalty=penalty))[0]
    theirs = ref.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False,
                          repetition_penalty=penalty, eos_token_id=None, pad_token_id=0)
    assert ours == theirs[0, len(prompt):].tolist()
