"""Instruction tuning: SFT data (readers, assistant-only labels, batching)."""
