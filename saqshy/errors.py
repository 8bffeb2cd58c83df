"""Domain errors. The HTTP layer maps them to status codes in one place
(``triage_api.exception_handlers``); the CLI prints their message without a stack trace.

    SaqshyError
    ├── InvalidInput        bad input: nothing was changed (HTTP 422)
    ├── NotFound            an id that does not exist (HTTP 404)
    ├── Conflict            a state clash, e.g. a duplicate (HTTP 409)
    ├── InvalidTransition   an action not allowed in the current state (HTTP 409)
    ├── Forbidden           the actor's role may not do this (HTTP 403)
    └── ServiceUnavailable  an engine (Elasticsearch, Redis, a model) is missing or down (HTTP 503)
"""

from __future__ import annotations

from typing import Any


class SaqshyError(Exception):
    """Base class of every error Saqshy raises on purpose."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidInput(SaqshyError):
    pass


class NotFound(SaqshyError):
    pass


class Conflict(SaqshyError):
    pass


class InvalidTransition(SaqshyError):
    pass


class Forbidden(SaqshyError):
    pass


class ServiceUnavailable(SaqshyError):
    pass
