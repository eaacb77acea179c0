"""Stand-in base folders for the real-scale dry runs: the family's real config.json (from
tests/model/families.py, no weights) and a tokenizer of the real kind and size, built in memory.

The tokenizers are not the real ones (no downloads): a Llama-2/Mistral-style BPE with byte
fallback and a Metaspace pre-tokenizer (<unk>, <s>, </s>, the 256 byte pieces, then filler
pieces up to 32,000), or a Qwen-style byte-level BPE (filler up to 151,643, then <|endoftext|>,
<|im_start|>, <|im_end|>). The filler names the family, so two families' tokenizers of the same
size differ, as the real ones do.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from tests.model.families import REAL_CONFIGS, write_standin

QWEN15_REGULAR = 151_643  # Qwen1.5's byte-level BPE entries before its 3 special tokens
QWEN15_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _metaspace_bpe(size: int, family: str) -> tuple[Tokenizer, dict]:
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"<0x{b:02X}>": 3 + b for b in range(256)}}
    vocab.update({f"\u2581{family}{i}": i for i in range(len(vocab), size)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    return tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                 "tokenizer_class": "LlamaTokenizer"}


def _byte_level_bpe(size: int, family: str) -> tuple[Tokenizer, dict]:
    regular = size - len(QWEN15_SPECIALS)
    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab.update({f"{family}{i}": i for i in range(len(vocab), regular)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(QWEN15_SPECIALS)
    return tok, {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                 "tokenizer_class": "Qwen2Tokenizer"}


def write_tokenizer(folder: str | Path, size: int, family: str = "llama2", **config) -> Path:
    """tokenizer.json + tokenizer_config.json of `size` entries in the family's format."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    build = _byte_level_bpe if family.startswith("qwen") else _metaspace_bpe
    tok, cfg = build(size, family)
    assert tok.get_vocab_size(with_added_tokens=True) == size
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({**cfg, **config}, indent=2))
    return folder


def write_base(family: str, folder: str | Path, tokenizer_size: int | None = None, **config) -> Path:
    """A base folder as a dry run sees it: the real config.json (no weights) and a tokenizer of
    the real size, or of `tokenizer_size` to plant a wrong one."""
    write_standin(family, folder, tiny=False)
    return write_tokenizer(folder, tokenizer_size or REAL_CONFIGS[family]["vocab_size"], family, **config)


def write_qwen15_tokenizer(folder: str | Path) -> Path:
    """A tokenizer-only folder the size of Qwen1.5's (151,646 entries), as Steel-LLM used."""
    return write_tokenizer(folder, QWEN15_REGULAR + len(QWEN15_SPECIALS), "qwen1.5")
