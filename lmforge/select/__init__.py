"""Instruction-data selection (MindLLM data entropy)."""
