"""The chunked linear + cross-entropy equals the full-logits loss, values and gradients."""

import pytest
import torch
import torch.nn.functional as F

from lmforge.model import build_model, preset
from lmforge.model.loss import chunk_tokens, linear_cross_entropy, masked_logprobs, token_logprobs
from lmforge.train.objectives import causal_lm, masked_token_logprobs
from lmforge.train.preference import sequence_logps


def _inputs(n=70, h=24, v=301, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g, requires_grad=True)
    weight = (torch.randn(v, h, generator=g) * 0.3).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=g)
    targets[::7] = -100
    return hidden, weight, targets


@pytest.mark.parametrize("chunk", [1, 16, 64, 1000])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_chunked_equals_full_loss_and_grads(chunk, reduction):
    hidden, weight, targets = _inputs()
    ref = F.cross_entropy(hidden @ weight.t(), targets, ignore_index=-100, reduction=reduction)
    gh, gw = torch.autograd.grad(ref, (hidden, weight))
    loss = linear_cross_entropy(hidden, weight, targets, "chunked", chunk, reduction)
    ch, cw = torch.autograd.grad(loss * 1.0, (hidden, weight))
    assert float(loss) == pytest.approx(float(ref), abs=1e-5, rel=1e-6)  # a sum of ~60 terms: relative
    torch.testing.assert_close(ch, gh, atol=1e-5, rtol=0)
    torch.testing.assert_close(cw, gw, atol=1e-5, rtol=0)


def test_chunked_scales_by_upstream_gradient():
    hidden, weight, targets = _inputs()
    (2.5 * linear_cross_entropy(hidden, weight, targets, "chunked", 16)).backward()
    ref_h = hidden.grad.clone()
    hidden.grad = None
    (2.5 * F.cross_entropy(hidden @ weight.t(), targets)).backward()
    torch.testing.assert_close(ref_h, hidden.grad, atol=1e-6, rtol=0)


def test_token_logprobs_match_log_softmax_with_grads():
    hidden, weight, targets = _inputs()
    h3, t3 = hidden.reshape(7, 10, -1), targets.reshape(7, 10)
    ref = masked_logprobs(h3 @ weight.t(), t3)
    manual = torch.log_softmax(h3 @ weight.t(), -1).gather(-1, t3.clamp(min=0)[..., None])[..., 0]
    torch.testing.assert_close(ref, manual * (t3 != -100), atol=1e-6, rtol=0)
    upstream = torch.randn(7, 10)
    g_ref = torch.autograd.grad((ref * upstream).sum(), (hidden, weight))
    ours = token_logprobs(h3, weight, t3, chunk=8)
    g_ours = torch.autograd.grad((ours * upstream).sum(), (hidden, weight))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def _model():
    cfg = preset("tiny", vocab_size=211, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    return build_model(cfg, seed=1)


def _grads(model, batch, impl):
    model.loss_impl, model.loss_chunk_tokens = impl, 24
    model.zero_grad()
    loss, _ = causal_lm(model, batch)
    loss.backward()
    return float(loss), {n: p.grad.clone() for n, p in model.named_parameters()}


def test_model_loss_path_equals_full_logits():
    model = _model()
    ids = torch.randint(0, 211, (3, 33), generator=torch.Generator().manual_seed(2))
    labels = ids.clone()
    labels[1, :12] = -100
    batch = {"input_ids": ids, "labels": labels}
    full_loss, full = _grads(model, batch, "full")
    chunk_loss, chunked = _grads(model, batch, "chunked")
    assert abs(full_loss - chunk_loss) < 1e-5
    for name in full:
        torch.testing.assert_close(chunked[name], full[name], atol=1e-5, rtol=0, msg=name)


def test_sequence_logps_use_the_one_masked_logprob_function():
    model = _model().eval()
    ids = torch.randint(0, 211, (2, 20), generator=torch.Generator().manual_seed(4))
    labels = ids.clone()
    labels[:, :8] = -100
    with torch.no_grad():
        logits = model(ids)
        ref = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
        ref = (ref * (labels[:, 1:] != -100)).sum(-1)
        summed, count = sequence_logps(model, ids, labels)
        per_token, mask = masked_token_logprobs(model, ids, labels)
    torch.testing.assert_close(summed, ref, atol=1e-5, rtol=0)
    assert count.tolist() == [12, 12] and mask.sum().item() == 24
    torch.testing.assert_close(per_token.sum(-1), summed)


def test_chunk_size_from_vocab():
    assert chunk_tokens(125_700) == 264 and chunk_tokens(4096) == 8192
    assert chunk_tokens(10**9) == 8
