"""Data pipeline: read, clean, deduplicate, pack, and load mixtures for training."""
