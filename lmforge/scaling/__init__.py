"""Scaling laws: sweep small models, fit Chinchilla / compute-only laws, plan the big run."""
