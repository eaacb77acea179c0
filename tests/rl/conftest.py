"""The SFT tests' tiny tokenizer and base model folder (session fixtures), reused here."""

from tests.sft.conftest import base_dir, tok_dir  # noqa: F401
