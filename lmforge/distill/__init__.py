"""Distillation: a student learns from a teacher model (white-box on its logits, or black-box on its answers)."""
