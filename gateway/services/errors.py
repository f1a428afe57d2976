"""What a service refuses, in domain terms; the REST API maps each to its HTTP status."""

from __future__ import annotations

from gateway.imports import Problem


class ServiceError(Exception):
    """A request the service refuses; the message says why, for a person."""


class NotFound(ServiceError):
    def __init__(self, what: str, ident: str, message: str | None = None) -> None:
        super().__init__(message or f"no {what} with id {ident!r}")
        self.what, self.ident = what, ident


class Conflict(ServiceError):
    """The request clashes with what is stored (an id taken, a tag bound, a state)."""


class Invalid(ServiceError):
    """Fields at fault: `where` is `body` or `query`, each problem names its field."""

    def __init__(self, where: str, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.where, self.problems = where, problems
