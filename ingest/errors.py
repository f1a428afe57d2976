"""An error as one line for a log or a dead letter: its type, and its message if it has one
(a timeout or a cancellation often has none, and an empty reason says nothing)."""

from __future__ import annotations


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
