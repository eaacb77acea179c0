"""Shared by chat and server: loading a model folder for inference, the stop tokens, and
turning a token stream into text deltas (whole UTF-8 characters, stop strings cut)."""

from __future__ import annotations

from pathlib import Path

import torch

from lmforge.tokenizer.chat_template import END_OF_TURN


def load_for_inference(model_dir: str | Path, device: str = "cpu", dtype: str = "auto"):
    """(model, tokenizer) ready for generation; bf16 on CUDA unless dtype says otherwise."""
    from lmforge.model import load_model
    from lmforge.tokenizer import Tokenizer

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine")
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    elif dtype in dtypes:
        torch_dtype = dtypes[dtype]
    else:
        raise ValueError(f"--dtype {dtype!r}: choose auto, {', '.join(dtypes)}")
    return load_model(model_dir, device=device, dtype=torch_dtype), Tokenizer.from_dir(model_dir)


def stop_token_ids(tokenizer, model_config) -> tuple[int, ...]:
    """EOS (tokenizer's and config's) and every chat template's end-of-turn token."""
    ids = {tokenizer.eos_id, model_config.eos_token_id}
    ids |= {tokenizer.token_id(t) for t in END_OF_TURN.values() if t}
    return tuple(sorted(i for i in ids if i is not None))


class StreamDecoder:
    """Feed token ids, get the new text; holds back partial characters and anything that could
    still become a stop string."""

    def __init__(self, tokenizer, stop: list[str] | None = None, stop_ids: set[int] | None = None):
        self.tokenizer = tokenizer
        self.stop = [s for s in (stop or []) if s]
        self.stop_ids = stop_ids or set()
        self.ids: list[int] = []
        self.sent = 0
        self.count = 0
        self.hold = max((len(s) for s in self.stop), default=1) - 1

    def feed(self, token: int) -> tuple[str, bool]:
        """(text to send now, whether a stop string was hit)."""
        self.count += 1
        if token in self.stop_ids:
            return "", False
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):
            return "", False
        for s in self.stop:
            at = text.find(s)
            if at >= 0:
                delta = text[self.sent:at]
                self.sent = at
                return delta, True
        upto = max(self.sent, len(text) - self.hold)
        delta = text[self.sent:upto]
        self.sent = upto
        return delta, False

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids).rstrip("\ufffd")
        delta = text[self.sent:]
        self.sent = len(text)
        return delta
