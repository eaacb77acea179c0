"""An output folder replaced in one step, and the temp folders of killed runs cleared away.

`atomic_dir` (lmforge.files) writes beside the target and renames at the end, so a failed run
leaves the target as it was; a SIGKILLed run cannot remove its temp folder, so each temp folder
records its process id and the next run for the same target removes those whose process is gone.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from lmforge.files import atomic_dir
from lmforge.files import process_alive as _alive

OWNER = ".owner-pid"


def remove_stale_temps(out: Path) -> list[Path]:
    """Remove `.<name>.tmp-*` folders beside `out` left by runs that no longer exist."""
    removed = []
    if not out.parent.is_dir():
        return removed
    for tmp in out.parent.glob(f".{out.name}.tmp-*"):
        try:
            pid = int((tmp / OWNER).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


@contextmanager
def fresh_output_dir(out: str | Path) -> Iterator[Path]:
    """A temp folder that replaces `out` (whole) when the block ends without an error."""
    out = Path(out)
    remove_stale_temps(out)
    with atomic_dir(out) as tmp:
        (tmp / OWNER).write_text(str(os.getpid()))
        yield tmp
        (tmp / OWNER).unlink()
