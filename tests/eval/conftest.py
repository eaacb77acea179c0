"""A tiny lmforge model folder with a byte-level BPE tokenizer trained here, and a C-Eval folder."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

TEXT = ["以下是中国关于考试的单项选择题，请选出其中的正确答案。", "答案：A B C D",
        "The following are multiple choice questions (with answers). Answer: A B C D",
        "1 + 1 = 2, 3 * 4 = 12, 北京是中国的首都。"] * 20


def make_model_dir(path: Path, seed: int = 0) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from lmforge.model import build_model, preset, save_model

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TEXT, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>",
           "pad_token": "<|endoftext|>", "model_max_length": 512}
    model = build_model(preset("tiny", vocab_size=tok.get_vocab_size(), hidden_size=64,
                               intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=2, eos_token_id=0, bos_token_id=0,
                               pad_token_id=0), seed=seed)
    return save_model(model, path, created_by="test", extra_files={
        "tokenizer.json": tok.to_str(), "tokenizer_config.json": json.dumps(cfg)})


def write_ceval(root: Path, n: int = 12) -> Path:
    rng = random.Random(0)
    for split in ("dev", "val"):
        (root / split).mkdir(parents=True, exist_ok=True)
        for subject in ("computer_network", "law"):
            with (root / split / f"{subject}_{split}.csv").open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["id", "question", "A", "B", "C", "D", "answer", "explanation"])
                for i in range(n if split == "val" else 3):
                    a, b = rng.randint(1, 50), rng.randint(1, 50)
                    opts = [str(a + b + d) for d in (0, 1, -1, 2)]
                    rng.shuffle(opts)
                    w.writerow([i, f"{a} + {b} = ？", *opts, "ABCD"[opts.index(str(a + b))], ""])
    return root


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("evalmodel") / "model")


@pytest.fixture(scope="session")
def ceval_dir(tmp_path_factory) -> Path:
    return write_ceval(tmp_path_factory.mktemp("ceval"))
