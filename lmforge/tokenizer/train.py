"""Train tokenizers with Hugging Face `tokenizers` or `sentencepiece`; save them so that
transformers' AutoTokenizer and llama.cpp load them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Iterator, Literal

from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer
from tqdm import tqdm

from lmforge.data.read import read_documents
from lmforge.files import atomic_dir
from lmforge.text import CJK_CLASS
from lmforge.tokenizer.chat_template import CHATML_TOKENS, set_chat_template
from lmforge.tokenizer.core import SPECIAL_TOKENS, Tokenizer, TokenizerError
from lmforge.tokenizer.spm import train_sentencepiece

TokenizerType = Literal["bytelevel-bpe", "sentencepiece-bpe", "sentencepiece-unigram", "wordpiece", "unigram"]
TYPES = ("bytelevel-bpe", "sentencepiece-bpe", "sentencepiece-unigram", "wordpiece", "unigram")

# Qwen2's pre-tokenizer: letters runs, single digits, punctuation runs, newlines, spaces.
# llama.cpp knows it as "qwen2", so a GGUF export can name it.
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def sample_texts(texts: Iterable[str], sample_chars: int | None, source: str | None = None) -> Iterator[str]:
    """The texts up to `sample_chars` characters; none at all is an error naming `source`."""
    total = 0
    bar = tqdm(desc="tokenizer sample", unit="char", unit_scale=True, mininterval=2.0)
    for t in texts:
        if sample_chars is not None and total >= sample_chars:
            break
        if sample_chars is not None and total + len(t) > sample_chars:
            t = t[: sample_chars - total]
        total += len(t)
        bar.update(len(t))
        yield t
    bar.close()
    if total == 0:
        raise TokenizerError(f"{source}: the training corpus is empty (no document with text)" if source
                             else "the training corpus is empty")


def _config(tok_type: str, chat_template: str, extra: dict | None = None) -> dict:
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1_000_000,
           "clean_up_tokenization_spaces": False, "add_bos_token": False, "add_eos_token": False,
           "lmforge_type": tok_type, **{f"{k}_token": v for k, v in SPECIAL_TOKENS.items()}}
    return {**cfg, **(extra or {})}


def _specials(chat_template: str) -> list[str]:
    return list(SPECIAL_TOKENS.values()) + (list(CHATML_TOKENS) if chat_template == "chatml" else [])


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | Path,
                    tok_type: TokenizerType = "bytelevel-bpe", chat_template: str = "chatml",
                    sample_chars: int | None = None, min_frequency: int = 2, source: str | None = None) -> Tokenizer:
    """Train on `texts` (read from `source`, named in errors) and save to out_dir (tokenizer.json,
    tokenizer_config.json, [.model]); out_dir appears, whole, only when training succeeded."""
    if tok_type not in TYPES:
        raise TokenizerError(f"unknown tokenizer type {tok_type!r}; types: {', '.join(TYPES)}")
    specials = _specials(chat_template)
    if tok_type == "bytelevel-bpe" and vocab_size < 256 + len(specials):
        raise TokenizerError(f"vocab_size {vocab_size} is smaller than the byte alphabet plus special "
                             f"tokens ({256 + len(specials)})")
    stream = sample_texts(texts, sample_chars, source)
    with atomic_dir(out_dir) as tmp:
        if tok_type.startswith("sentencepiece"):
            tok = train_sentencepiece(stream, vocab_size, tmp, tok_type.split("-")[1], specials)
            tokenizer = Tokenizer(tok, _config(tok_type, chat_template))
        else:
            tokenizer = _train_hf(stream, tok_type, vocab_size, specials, min_frequency, chat_template)
        set_chat_template(tokenizer, chat_template)
        tokenizer.save(tmp)
    _warn_if_smaller(tokenizer.vocab_size, vocab_size, min_frequency)
    return tokenizer


def _train_hf(stream: Iterator[str], tok_type: str, vocab_size: int, specials: list[str], min_frequency: int,
              chat_template: str) -> Tokenizer:
    """A `tokenizers` model of `tok_type` trained on the stream."""
    tok, trainer = _hf_model(tok_type, vocab_size, specials, min_frequency)
    try:
        tok.train_from_iterator(stream, trainer=trainer)
    except ValueError:  # our own errors from the stream (empty corpus, bad file) as they are
        raise
    except Exception as e:  # `tokenizers` raises a bare Exception, e.g. vocab below the alphabet
        raise TokenizerError(f"{tok_type} training failed: {e}") from None
    if tok.get_vocab_size() < len(specials) + 10:
        raise TokenizerError(f"trained vocabulary has only {tok.get_vocab_size()} entries")
    extra = {"lmforge_pretokenizer": "qwen2"} if tok_type == "bytelevel-bpe" else {}
    return Tokenizer(tok, _config(tok_type, chat_template, extra))


def _warn_if_smaller(got: int, asked: int, min_frequency: int) -> None:
    """A vocabulary smaller than asked is a property of the text, not an error: say so and why."""
    if got < asked:
        print(f"warning: the tokenizer has {got:,} tokens, fewer than the vocab_size {asked:,} asked "
              f"for: the training text has too few distinct pieces seen at least {min_frequency} times; "
              "give it more text (or lower vocab_size)", file=sys.stderr)


def _hf_model(tok_type: str, vocab_size: int, specials: list[str], min_frequency: int):
    if tok_type == "bytelevel-bpe":
        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=specials, show_progress=True,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        return tok, trainer
    word_split = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CJK_CLASS), behavior="isolated"),  # each Han character alone
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Metaspace()])
    if tok_type == "wordpiece":
        tok = HFTokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS["unk"]))
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = word_split
        tok.decoder = decoders.WordPiece()
        return tok, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials,
                                              min_frequency=min_frequency, continuing_subword_prefix="##")
    tok = HFTokenizer(models.Unigram())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = word_split
    tok.decoder = decoders.Metaspace()
    return tok, trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials,
                                        unk_token=SPECIAL_TOKENS["unk"])


def read_training_texts(paths: list[str], text_field: str = "text") -> Iterator[str]:
    return read_documents(paths, text_field=text_field)

