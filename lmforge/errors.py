"""The one user-error type: a problem the user can fix (a bad file, line, key or argument).

The CLI prints its message (which names the file, line or key) and exits with code 2; any
other exception is a bug and keeps its traceback. Stage-specific errors subclass it. It is a
ValueError so that validators and callers that expect one keep working."""

from __future__ import annotations


class UserError(ValueError):
    """A message for the user, naming what to fix; never a bug."""
