"""Moved to lmforge.stats (layer 1). This re-export stays only until lmforge/recipes/stages/distill.py
(being edited by another helper) imports from lmforge.stats; then delete this file."""

from lmforge.stats import fmt, reads, t_interval

__all__ = ["fmt", "reads", "t_interval"]
