"""Synthetic data: self-instruct generation and known-answer skills."""
