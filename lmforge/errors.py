"""The one user-error type: a problem the user can fix (a bad file, line, key or argument).

The CLI prints its message (which names the file, line or key) and exits with code 2; any
other exception is a bug and keeps its traceback. Stage-specific errors subclass it. It is a
ValueError so that validators and callers that expect one keep working."""

from __future__ import annotations

import importlib.util


class UserError(ValueError):
    """A message for the user, naming what to fix; never a bug."""


def require_extra(package: str, feature: str, extra: str) -> None:
    """Raise a UserError naming the extra to install when an optional `package` is missing."""
    if importlib.util.find_spec(package) is None:
        raise UserError(f"{feature} needs {package}: pip install 'lmforge[{extra}]'")
