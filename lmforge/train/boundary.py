"""The checks at a stage boundary, run before any work (and all that `--dry-run` runs).

One function per boundary, each raising a UserError that names both sides and what differs:
- packed data <-> tokenizer: `check_data_tokenizer` (the manifest's tokenizer hash);
- tokenizer <-> model: `check_model_tokenizer` (a vocabulary larger than the embedding; a
  tokenizer other than the model folder's own, or than the one the model was trained with);
- a sequence length <-> the model's context: `check_context` (max_position_embeddings).
Packed shards are checked against their vocabulary when loaded (lmforge.tokens.pack).
A training stage records the tokenizer it trained with (`tokenizer_identity`) in the model
folder's lmforge.json, so that later stages can tell a swapped tokenizer from the real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmforge.errors import UserError
from lmforge.model.config import ModelConfig
from lmforge.model.io import load_config, read_json
from lmforge.model.loader import load_tokenizer
from lmforge.model.memory import TrainShape, estimate_training_memory
from lmforge.tokenizer import Tokenizer
from lmforge.tokens.pack import tokenizer_hash
from lmforge.train.config import TrainConfig


def _describe(tok: Tokenizer) -> str:
    return f"hash {tokenizer_hash(tok)}, {tok.vocab_size:,} tokens"


def tokenizer_identity(tok: Tokenizer, folder: str | Path | None) -> dict[str, Any]:
    """What a training stage records about its tokenizer (lineage details `tokenizer`)."""
    return {"hash": tokenizer_hash(tok), "vocab_size": tok.vocab_size, "folder": str(folder)}


def check_data_tokenizer(data_path: str | Path, manifest: dict, tok: Tokenizer | None,
                         tok_dir: str | Path | None) -> None:
    """Packed ids mean nothing under another tokenizer: refuse data packed with a different one."""
    packed = manifest.get("tokenizer_hash")
    if tok is None or not packed or tokenizer_hash(tok) == packed:
        return
    raise UserError(f"data.path {data_path} was packed with another tokenizer (hash {packed}, "
                    f"{manifest.get('vocab_size')} tokens) than {tok_dir} ({_describe(tok)}): repack it "
                    f"with `lmforge data pack --tokenizer {tok_dir}`, or train with the tokenizer the "
                    "data was packed with")


def _trained_with(model_dir: Path) -> dict[str, Any] | None:
    """The tokenizer the last training stage of this folder recorded, if any."""
    meta = model_dir / "lmforge.json"
    lineage = read_json(meta).get("lineage") if meta.is_file() else None
    if not isinstance(lineage, list) or not lineage or not isinstance(lineage[-1], dict):
        return None
    recorded = (lineage[-1].get("details") or {}).get("tokenizer")
    return recorded if isinstance(recorded, dict) and recorded.get("hash") else None


def check_model_tokenizer(model_dir: str | Path, model_cfg: ModelConfig, tok: Tokenizer,
                          tok_dir: str | Path) -> None:
    """The tokenizer must fit the model's embedding and be the model's own: the folder's
    tokenizer.json when `tok_dir` is another folder, and the one its training recorded."""
    model_dir = Path(model_dir)
    if tok.vocab_size > model_cfg.vocab_size:
        raise UserError(f"tokenizer {tok_dir} has {tok.vocab_size:,} tokens but the model {model_dir} embeds "
                        f"only {model_cfg.vocab_size:,} (config.json vocab_size): grow the model first "
                        f"(`lmforge grow vocab --model {model_dir} --tokenizer {tok_dir}`)")
    own = model_dir / "tokenizer.json"
    if Path(tok_dir).resolve() != model_dir.resolve() and own.is_file():
        theirs = Tokenizer.from_dir(model_dir)
        if tokenizer_hash(theirs) != tokenizer_hash(tok):
            raise UserError(f"tokenizer {tok_dir} ({_describe(tok)}) is not the model's own tokenizer "
                            f"{model_dir} ({_describe(theirs)}): use the model's tokenizer, or grow the "
                            f"model to the new one first (`lmforge grow vocab`)")
    recorded = _trained_with(model_dir)
    if recorded and recorded["hash"] != tokenizer_hash(tok):
        raise UserError(f"the model {model_dir} was trained with tokenizer {recorded.get('folder')} "
                        f"(hash {recorded['hash']}, {recorded.get('vocab_size')} tokens) but its tokenizer "
                        f"{tok_dir} differs ({_describe(tok)}): put the tokenizer it was trained with back "
                        f"into {model_dir}")


def check_model_folder(model_dir: str | Path) -> tuple[ModelConfig, Tokenizer]:
    """A model folder's shape and own tokenizer, checked against each other (no weights read)."""
    cfg = load_config(model_dir)
    tok = load_tokenizer(model_dir)  # a folder without one says what inference needs
    check_model_tokenizer(model_dir, cfg, tok, model_dir)
    return cfg, tok


def check_context(key: str, length: int, model_cfg: ModelConfig, model: str | Path) -> None:
    """A training length past the model's positions would train on positions it never had."""
    if length > model_cfg.max_position_embeddings:
        raise UserError(f"{key} {length} is longer than the context of the model {model} "
                        f"(max_position_embeddings {model_cfg.max_position_embeddings}): set {key} to at "
                        f"most {model_cfg.max_position_embeddings}, or extend the model's context first")


def memory_gib(model_cfg: ModelConfig, train: TrainConfig, seq_len: int | None = None) -> float:
    """Per-GPU peak of one training step on one GPU (bf16 unless fp32 is set), see model/memory.py."""
    shape = TrainShape(seq_len=seq_len or train.seq_len, batch_size=train.batch_size,
                       precision="fp32" if train.precision == "fp32" else "bf16",
                       activation_checkpointing=train.activation_checkpointing,
                       loss_impl="full" if train.loss_impl == "full" else "chunked")
    return estimate_training_memory(model_cfg, shape).peak / 2**30
