"""SentencePiece training (lossless settings) and conversion to a `tokenizers` tokenizer.json
equivalent to transformers' Llama conversion (byte fallback, "▁" for spaces)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

import sentencepiece as spm
from tokenizers import AddedToken, decoders, models, normalizers
from tokenizers import Tokenizer as HFTokenizer

from lmforge.tokenizer.core import SPECIAL_TOKENS, TokenizerError

MODEL_FILE = "tokenizer.model"


def train_sentencepiece(texts: Iterable[str], vocab_size: int, out_dir: Path, model_type: str,
                        specials: list[str]) -> HFTokenizer:
    """Train with byte fallback and identity normalisation, so decode(encode(x)) == x."""
    buf = io.BytesIO()
    user_symbols = [s for s in specials if s not in SPECIAL_TOKENS.values()]
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=(t for text in texts for t in text.splitlines() if t.strip()),
            model_writer=buf, vocab_size=vocab_size, model_type=model_type,
            byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
            split_digits=True, character_coverage=0.9995, allow_whitespace_only_pieces=True,
            unk_id=3, bos_id=1, eos_id=2, pad_id=0, pad_piece=SPECIAL_TOKENS["pad"],
            unk_piece=SPECIAL_TOKENS["unk"], bos_piece=SPECIAL_TOKENS["bos"],
            eos_piece=SPECIAL_TOKENS["eos"], user_defined_symbols=user_symbols,
            hard_vocab_limit=False, train_extremely_large_corpus=False, minloglevel=2)
    except RuntimeError as e:
        raise TokenizerError(f"sentencepiece training failed: {e}") from None
    (out_dir / MODEL_FILE).write_bytes(buf.getvalue())
    return from_sentencepiece(out_dir / MODEL_FILE)


def from_sentencepiece(model_file: str | Path) -> HFTokenizer:
    """A tokenizer.json equivalent of a SentencePiece BPE or Unigram model."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(Path(model_file).read_bytes())
    pieces = [(p.piece, p.score) for p in proto.pieces]
    unk = next((i for i, p in enumerate(proto.pieces) if p.type == pb.ModelProto.SentencePiece.UNKNOWN), 0)
    if proto.trainer_spec.model_type == pb.TrainerSpec.UNIGRAM:
        tok = HFTokenizer(models.Unigram(pieces, unk_id=unk, byte_fallback=True))
    elif proto.trainer_spec.model_type == pb.TrainerSpec.BPE:
        vocab = {p: i for i, (p, _) in enumerate(pieces)}
        tok = HFTokenizer(models.BPE(vocab=vocab, merges=_merges(pieces, vocab), unk_token=pieces[unk][0],
                                     byte_fallback=True, fuse_unk=True))
    else:
        raise TokenizerError(f"{model_file}: only BPE and Unigram SentencePiece models are supported")
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]) \
        if proto.normalizer_spec.add_dummy_prefix else normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
                                    + ([decoders.Strip(" ", 1, 0)] if proto.normalizer_spec.add_dummy_prefix else []))
    control = [p.piece for p in proto.pieces
               if p.type in (pb.ModelProto.SentencePiece.CONTROL, pb.ModelProto.SentencePiece.UNKNOWN,
                             pb.ModelProto.SentencePiece.USER_DEFINED)]
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in control])
    return tok


def _merges(pieces: list[tuple[str, float]], vocab: dict[str, int]) -> list[tuple[str, str]]:
    """BPE merges recovered from the vocabulary, ordered by the merged piece's rank."""
    merges = []
    for piece, _ in pieces:
        for i in range(1, len(piece)):
            left, right = piece[:i], piece[i:]
            if left in vocab and right in vocab:
                merges.append((vocab[piece], vocab[left], vocab[right], left, right))
    merges.sort()
    return [(l, r) for _, _, _, l, r in merges]
