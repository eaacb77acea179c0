"""Evaluation: multiple choice by log-likelihood (lm-eval compatible), generation tasks, contamination."""
