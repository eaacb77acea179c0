"""Session fixtures reused: a tiny base model with a byte-level BPE tokenizer (tests/sft) and a
tiny chat model with another tokenizer (tests/export)."""

from tests.export.conftest import model_dir  # noqa: F401
from tests.sft.conftest import base_dir, tok_dir  # noqa: F401
