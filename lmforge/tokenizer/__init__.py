"""Tokenizers: train, extend, chat templates, stats."""

from lmforge.tokenizer.core import Tokenizer, TokenizerError, byte_tokenizer

__all__ = ["Tokenizer", "TokenizerError", "byte_tokenizer"]
