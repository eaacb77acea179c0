"""The stage kinds a recipe can name; importing this package registers them with the runner."""

from lmforge.recipes.stages import claims, contamination, data, results, rl, training  # noqa: F401
from lmforge.recipes.stages import distill  # noqa: F401
from lmforge.recipes.stages import transcript  # noqa: F401
from lmforge.recipes.stages import claims_mindllm  # noqa: F401
