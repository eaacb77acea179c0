import torch

from lmforge.model import build_model, preset
from lmforge.sft.lora import add_lora, merge_lora


def test_lora_merge_equals_base_plus_scaled_ba():
    model = build_model(preset("tiny", vocab_size=256, num_hidden_layers=2))
    base_q = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    wrapped = add_lora(model, r=4, alpha=8)
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    total = sum(p.numel() for p in wrapped.parameters())
    assert trainable / total < 0.05
    layer = wrapped.model.layers[0].self_attn.q_proj
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
    a, b = layer.lora_A["default"].weight.detach().clone(), layer.lora_B["default"].weight.detach().clone()
    x = torch.randint(0, 256, (1, 8))
    before = wrapped(x)
    merged = merge_lora(wrapped)
    torch.testing.assert_close(merged.model.layers[0].self_attn.q_proj.weight, base_q + (8 / 4) * b @ a)
    torch.testing.assert_close(merged(x), before, atol=1e-4, rtol=1e-4)
