"""lmforge: build small bilingual LLMs end to end."""

__version__ = "0.1.0"
