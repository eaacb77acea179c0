"""A tiny model folder with a trained byte-level BPE tokenizer and the ChatML template."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MIXED_TEXT

TEXTS = [MIXED_TEXT, "Hello, how are you today? I am fine, thank you.",
         "你好，今天天气很好。我们去公园散步吧。", "def add(a, b):\n    return a + b\n"] * 20


def train_briefly(model, tok, steps: int) -> None:
    """A few Adam steps on chat-formatted TEXTS so greedy output is readable, not byte soup."""
    import torch

    from lmforge.model.transformer import causal_lm_loss
    from lmforge.tokenizer.chat_template import render

    rows = [render(tok, [{"role": "user", "content": TEXTS[i]}, {"role": "assistant", "content": TEXTS[i + 1]}])[0]
            for i in range(4)]
    rows = [r[:64] for r in rows]
    width = max(map(len, rows))
    ids = torch.tensor([r + [tok.eos_id] * (width - len(r)) for r in rows])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    for _ in range(steps):
        loss = causal_lm_loss(model(ids), ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def make_model_dir(path: Path, vocab_size: int = 400, seed: int = 0, steps: int = 20) -> Path:
    from lmforge.model import build_model, preset, save_model
    from lmforge.tokenizer.train import train_tokenizer

    tok = train_tokenizer(TEXTS, vocab_size=vocab_size - 20, out_dir=path / "tok", chat_template="chatml")
    cfg = preset("tiny", vocab_size=vocab_size, hidden_size=64, intermediate_size=128,
                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 bos_token_id=tok.bos_id, eos_token_id=tok.eos_id)
    model = build_model(cfg, seed=seed)
    train_briefly(model, tok, steps)
    return save_model(model, path / "model", created_by="test", copy_from=path / "tok")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    # tests/serve reuses this fixture through an import, which pytest treats as a second
    # session fixture: build the folder once per process and reuse it
    root = tmp_path_factory.getbasetemp() / "lmforge-chatmodel"
    if not (root / "model" / "config.json").is_file():
        make_model_dir(root)
    return root / "model"
