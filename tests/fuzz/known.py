"""Fuzz cases that still fail in code other work owns (issue 16): each is marked
xfail(strict=False) with its reason, so it passes the day its fix lands; the summary line counts
them. Empty: every case passes. Add an entry only with the reason and the code that owns it."""

from __future__ import annotations

KNOWN: dict[str, str] = {}
