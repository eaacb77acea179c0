"""Benchmark families; importing registers them."""
from lmforge.eval.tasks import mc  # noqa: F401
