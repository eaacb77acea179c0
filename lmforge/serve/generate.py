"""`run_generate(GenerateConfig)`: complete prompts with a model folder, the operation behind
`lmforge generate`. Plain prompts are continued; with `chat` each prompt is a user turn rendered
by the model's chat template. The folder must carry its tokenizer (no byte-level fallback)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import ConfigDict, Field, model_validator

from lmforge.errors import UserError
from lmforge.model.generate import generate
from lmforge.model.loader import load_for_inference, stop_token_ids
from lmforge.serve.options import ModelOnDevice, Sampling
from lmforge.serve.text import StreamDecoder
from lmforge.tokenizer.chat_template import render
from lmforge.tokenizer.core import Tokenizer


class GenerateConfig(ModelOnDevice, Sampling):
    """Prompts in, completions out (all prompts decoded together as one batch)."""

    model_config = ConfigDict(extra="forbid")
    prompt: list[str] = Field(min_length=1, description="one or more prompts (a batch)")
    chat: bool = Field(False, description="each prompt is a user turn in the model's chat template")
    system: str | None = Field(None, description="system prompt (with --chat)")
    jsonl: bool = Field(False, description="print one JSON object per prompt instead of text")

    @model_validator(mode="after")
    def _system_needs_chat(self) -> "GenerateConfig":
        if self.system and not self.chat:
            raise UserError("--system applies to --chat prompts only")
        return self


@dataclass
class Completion:
    prompt: str
    completion: str
    tokens: int  # new tokens, the stop token included when one was hit


def _encode(tok: Tokenizer, cfg: GenerateConfig, prompt: str) -> list[int]:
    if not cfg.chat:
        return tok.encode(prompt, add_bos=True)
    if not tok.chat_template:
        raise UserError(f"--chat: {cfg.model} has no chat_template in tokenizer_config.json "
                        "(generate without --chat continues plain text)")
    head = [{"role": "system", "content": cfg.system}] if cfg.system else []
    return render(tok, head + [{"role": "user", "content": prompt}], add_generation_prompt=True)[0]


def check_context(prompts: list[list[int]], max_new_tokens: int, context: int) -> None:
    """A UserError when a prompt plus --max-new-tokens does not fit the model's context (naming
    the prompt, its token count and the most new tokens that would fit)."""
    for i, ids in enumerate(prompts, 1):
        if len(ids) >= context:
            raise UserError(f"--prompt {i} has {len(ids)} tokens; the model's context is {context} tokens")
        if len(ids) + max_new_tokens > context:
            raise UserError(f"--max-new-tokens {max_new_tokens}: prompt {i} has {len(ids)} tokens, so at most "
                            f"{context - len(ids)} new tokens fit the model's context of {context}")


def run_generate(cfg: GenerateConfig, on_text: Callable[[int, str], None] | None = None) -> list[Completion]:
    """Completions in prompt order; `on_text(row, text)` receives each row's new text as it is
    decoded (whole characters, stop tokens left out)."""
    loaded = load_for_inference(cfg.model, cfg.device, cfg.dtype)
    model, tok = loaded.model, loaded.tokenizer
    stops = stop_token_ids(tok, model.config)
    prompts = [_encode(tok, cfg, p) for p in cfg.prompt]
    check_context(prompts, cfg.max_new_tokens, model.config.max_position_embeddings)
    decoders = [StreamDecoder(tok, stop_ids=set(stops)) for _ in prompts]
    texts: list[list[str]] = [[] for _ in prompts]

    def emit(row: int, delta: str) -> None:
        texts[row].append(delta)
        if delta and on_text is not None:
            on_text(row, delta)

    def on_token(row: int, token: int) -> None:
        emit(row, decoders[row].feed(token)[0])

    outs = generate(model, prompts, cfg.sampling(stops), pad_id=tok.pad_id, on_token=on_token)
    for row, decoder in enumerate(decoders):
        emit(row, decoder.flush())
    return [Completion(p, "".join(t), len(out)) for p, t, out in zip(cfg.prompt, texts, outs)]
