"""Chat templates as Jinja in tokenizer_config.json, and one renderer that also gives the
assistant mask (which tokens SFT trains on), so transformers' apply_chat_template and lmforge
always produce the same ids."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from jinja2.sandbox import ImmutableSandboxedEnvironment

from lmforge.errors import UserError

CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")

TEMPLATES = {
    # ChatML (Qwen, Steel-LLM, MindLLM chat)
    "chatml": (
        "{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    # SOLAR / Upstage instruct format; the assistant turn ends with the EOS token.
    "solar": (
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{ '### System:\n' + message['content'] + '\n\n' }}"
        "{% elif message['role'] == 'user' %}{{ '### User:\n' + message['content'] + '\n\n' }}"
        "{% elif message['role'] == 'assistant' %}"
        "{{ '### Assistant:\n' + message['content'] + eos_token + '\n\n' }}"
        "{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '### Assistant:\n' }}{% endif %}"
    ),
}
END_OF_TURN = {"chatml": "<|im_end|>", "solar": None}  # None: the tokenizer's EOS
ROLES = ("system", "user", "assistant")


class ChatFormatError(UserError):
    pass


@lru_cache(maxsize=16)
def _compile(template: str):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template)


def template_name(template: str) -> str | None:
    return next((k for k, v in TEMPLATES.items() if v == template), None)


def set_chat_template(tokenizer, name: str) -> None:
    """Store a named template in the tokenizer's config (adding ChatML's tokens if needed)."""
    if name not in TEMPLATES:
        raise UserError(f"unknown chat template {name!r}; known: {', '.join(TEMPLATES)}")
    if name == "chatml":
        missing = [t for t in CHATML_TOKENS if tokenizer.tok.token_to_id(t) is None]
        if missing:
            tokenizer.tok.add_special_tokens(missing)
    tokenizer.config["chat_template"] = TEMPLATES[name]


def render_text(tokenizer, messages: Sequence[dict[str, Any]], add_generation_prompt: bool = False) -> str:
    template = tokenizer.chat_template
    if not template:
        raise ChatFormatError("the tokenizer has no chat_template (lmforge tokenizer train sets "
                              "one; or set_chat_template(tok, 'chatml'))")
    eos = tokenizer.config.get("eos_token")
    bos = tokenizer.config.get("bos_token")
    return _compile(template).render(messages=list(messages), add_generation_prompt=add_generation_prompt,
                                     eos_token=eos, bos_token=bos)


def check_messages(messages: Sequence[dict[str, Any]]) -> None:
    if not messages:
        raise ChatFormatError("empty conversation")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ChatFormatError(f"message {i}: needs role in {ROLES} and string content, got {m!r}")


def render(tokenizer, messages: Sequence[dict[str, Any]], add_generation_prompt: bool = False
           ) -> tuple[list[int], list[int]]:
    """Token ids of the rendered conversation and a 0/1 mask that is 1 exactly on assistant
    content and its end-of-turn token (not on the role header)."""
    check_messages(messages)
    text = render_text(tokenizer, messages, add_generation_prompt)
    name = template_name(tokenizer.chat_template or "")
    end = END_OF_TURN.get(name) if name else None
    end = end or tokenizer.config.get("eos_token")
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(render_text(tokenizer, messages[:i], add_generation_prompt=True))
        upto = render_text(tokenizer, messages[: i + 1])
        stop = upto.rfind(end) + len(end) if end and upto.rfind(end) >= start else len(upto)
        spans.append((start, stop))
    enc = tokenizer.tok.encode(text, add_special_tokens=False)
    mask = [int(any(s < b and a < e for s, e in spans)) for a, b in enc.offsets]
    return enc.ids, mask
