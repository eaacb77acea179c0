"""Shared fixtures: tiny models and text made here, never downloaded."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under pytest-xdist each worker gets one core; alone, use both.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)

MIXED_TEXT = ("The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸跳过了懒狗。"
              "Numbers 12345 and 数字 67890; emoji 🦊 and rare CJK 𠀀𪚥.\n")


@pytest.fixture
def mixed_text() -> str:
    return MIXED_TEXT


@pytest.fixture
def tiny_config():
    from lmforge.model import preset

    return preset("tiny", vocab_size=300, hidden_size=64, intermediate_size=160,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


@pytest.fixture
def tiny_model(tiny_config):
    from lmforge.model import build_model

    return build_model(tiny_config, seed=0).eval()


@pytest.fixture(scope="session")
def real_docs():
    """Real English and Chinese documents from installed packages."""
    from lmforge.data.corpus import demo_corpus

    return demo_corpus(max_chars=400_000, zh_share=0.5)
