"""The stage kinds a recipe can name; importing this package registers them with the runner."""

from lmforge.recipes.stages import data, results, rl, training  # noqa: F401
