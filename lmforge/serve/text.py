"""Shared by chat, generate and server: turning a token stream into text deltas (whole UTF-8
characters, stop strings cut). Loading a model folder and its stop tokens: lmforge.model.loader."""

from __future__ import annotations


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
