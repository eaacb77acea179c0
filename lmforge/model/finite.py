"""NaN/Inf weights are refused where a model leaves training (generate, chat, serve, eval, export).

A diverged run can save a folder whose weights hold NaN or Inf; generating from it yields
garbage and exporting it ships garbage. `check_finite` names the tensors, so the user can pick
an earlier checkpoint instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

from lmforge.errors import UserError

_NAMED = 5  # tensors named in the message; the rest are counted


class NonFiniteWeightsError(UserError):
    """A model folder with NaN or infinite weights; the message names the tensors."""


def _bad(t: torch.Tensor) -> str | None:
    # NaN/Inf anywhere makes the sum non-finite; the sum is ~7x cheaper than isfinite().all() on
    # CPU, and the exact check runs only when it is not finite (NaN/Inf, or a sum that overflowed)
    if not t.is_floating_point() or bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all()):
        return None
    nan, inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
    return f"{nan} NaN and {inf} infinite of {t.numel():,} values ({str(t.dtype).removeprefix('torch.')})"


def check_finite(tensors: Iterable[tuple[str, torch.Tensor]], source: str | Path) -> None:
    """Raise NonFiniteWeightsError naming every tensor in `tensors` holding NaN or Inf."""
    bad = [(name, what) for name, t in tensors if (what := _bad(t.detach())) is not None]
    if not bad:
        return
    named = "; ".join(f"{name}: {what}" for name, what in bad[:_NAMED])
    more = f"; and {len(bad) - _NAMED} more tensors" if len(bad) > _NAMED else ""
    raise NonFiniteWeightsError(
        f"{source}: weights are not finite (did training diverge? use an earlier checkpoint): "
        f"{named}{more}")
