"""Domain errors. The HTTP layer maps them to status codes in one place
(``triage_api.exception_handlers``); the CLI prints their message without a stack trace.

    SaqshyError
    ├── InvalidInput        bad input: nothing was changed (HTTP 422)
    ├── NotFound            an id that does not exist (HTTP 404)
    ├── Conflict            a state clash, e.g. a duplicate (HTTP 409)
    ├── InvalidTransition   an action not allowed in the current state (HTTP 409)
    ├── Forbidden           the actor's role may not do this (HTTP 403)
    └── ServiceUnavailable  an engine (Elasticsearch, Redis, a model) is missing or down (HTTP 503)
        └── DatabaseUnavailable  the store of record cannot be reached (HTTP 503 with Retry-After)

Every error carries a stable ``code`` (an ``ErrorCode``: the class's default, or a specific one given
where it is raised) and ``params`` to interpolate, so a client shows its own translated message
instead of the English ``message``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar


class ErrorCode(enum.StrEnum):
    """Every code an API error body can carry; the review UI translates each as ``errors.<code>``."""

    # a default per class
    ERROR = "error"
    INVALID_INPUT = "invalid_input"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID_TRANSITION = "invalid_transition"
    FORBIDDEN = "forbidden"
    SERVICE_UNAVAILABLE = "service_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    # HTTP-level answers that are not domain errors
    INVALID_REQUEST = "invalid_request"
    VALUE_TOO_SHORT = "value_too_short"
    VALUE_TOO_LONG = "value_too_long"
    FIELD_MISSING = "field_missing"
    VALUE_OUT_OF_RANGE = "value_out_of_range"
    UNAUTHENTICATED = "unauthenticated"
    CSRF_FAILED = "csrf_failed"
    ROLE_REQUIRED = "role_required"
    TOO_LARGE = "too_large"
    VALUE_NOT_STORABLE = "value_not_storable"
    # specific domain errors people meet
    LOGIN_FAILED = "login_failed"
    LOGIN_RATE_LIMITED = "login_rate_limited"
    INVALID_EMAIL = "invalid_email"
    DISPLAY_NAME_INVALID = "display_name_invalid"
    PASSWORD_TOO_SHORT = "password_too_short"
    PASSWORD_TOO_LONG = "password_too_long"
    PASSWORD_BLANK = "password_blank"
    PASSWORD_COMMON = "password_common"
    PASSWORD_PERSONAL = "password_personal"
    PASSWORD_GUESSABLE = "password_guessable"
    WRONG_PASSWORD = "wrong_password"
    EMAIL_TAKEN = "email_taken"
    ROLE_GRANT_FORBIDDEN = "role_grant_forbidden"
    ACCOUNT_CHANGE_FORBIDDEN = "account_change_forbidden"
    SELF_DISABLE = "self_disable"
    INVITE_UNKNOWN = "invite_unknown"
    INVITE_USED = "invite_used"
    INVITE_EXPIRED = "invite_expired"
    INVITE_OTHER_EMAIL = "invite_other_email"
    INVITE_TTL = "invite_ttl"
    INVITE_REVOKE_FORBIDDEN = "invite_revoke_forbidden"
    UNKNOWN_CATEGORY = "unknown_category"
    THRESHOLD_RANGE = "threshold_range"
    NOT_A_REVIEWER = "not_a_reviewer"
    TASK_NOT_FOUND = "task_not_found"
    TASK_DECIDED = "task_decided"
    NOT_YOUR_TASK = "not_your_task"
    LEASE_EXPIRED = "lease_expired"
    ALREADY_VOTED = "already_voted"
    NOTE_TOO_LONG = "note_too_long"
    CATEGORY_REQUIRED = "category_required"
    MODERATOR_VERDICT = "moderator_verdict"
    GOLD_TASK = "gold_task"
    OWN_VOTE_RESOLVE = "own_vote_resolve"
    CASE_NOT_FOUND = "case_not_found"
    CASE_ALREADY = "case_already"
    SOURCE_NOT_FOUND = "source_not_found"
    USER_NOT_FOUND = "user_not_found"
    ADDRESS_NOT_ALLOWED = "address_not_allowed"
    HOST_UNRESOLVABLE = "host_unresolvable"
    URL_CREDENTIALS = "url_credentials"
    URL_INVALID = "url_invalid"
    TELEGRAM_CHANNEL_INVALID = "telegram_channel_invalid"
    READ_BACK_TELEGRAM_ONLY = "read_back_telegram_only"
    SOURCE_NAME_TAKEN = "source_name_taken"
    SOURCE_NOT_ENABLED = "source_not_enabled"
    VOTE_NOT_FOUND = "vote_not_found"
    UNDO_EXPIRED = "undo_expired"
    UNDO_TASK_TAKEN = "undo_task_taken"
    WELLBEING_FORBIDDEN = "wellbeing_forbidden"
    AUDIT_RANGE = "audit_range"
    SEARCH_FILTERS_INVALID = "search_filters_invalid"
    MODEL_NOT_FOUND = "model_not_found"
    GATE_REPORT_MISSING = "gate_report_missing"
    PR_CURVES_MISSING = "pr_curves_missing"
    RETRAIN_JOB_NOT_FOUND = "retrain_job_not_found"
    JOB_NOT_CANCELLABLE = "job_not_cancellable"
    REASON_TOO_LONG = "reason_too_long"
    FORCE_NEEDS_REASON = "force_needs_reason"
    MODEL_ALREADY_PRODUCTION = "model_already_production"
    GATE_FAILED = "gate_failed"
    ROLLBACK_NONE = "rollback_none"
    REPOST_NOT_FOUND = "repost_not_found"
    REPOST_ALREADY = "repost_already"
    REPOST_HAS_TASK = "repost_has_task"


class SaqshyError(Exception):
    """Base class of every error Saqshy raises on purpose."""

    default_code: ClassVar[ErrorCode] = ErrorCode.ERROR

    def __init__(
        self, message: str, *, code: ErrorCode | None = None, params: Mapping[str, Any] | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.code: ErrorCode = code or self.default_code
        self.params: dict[str, Any] = dict(params or {})

    def __str__(self) -> str:
        return self.message


class InvalidInput(SaqshyError):
    default_code = ErrorCode.INVALID_INPUT


class NotFound(SaqshyError):
    default_code = ErrorCode.NOT_FOUND


class Conflict(SaqshyError):
    default_code = ErrorCode.CONFLICT


class InvalidTransition(SaqshyError):
    default_code = ErrorCode.INVALID_TRANSITION


class Forbidden(SaqshyError):
    default_code = ErrorCode.FORBIDDEN


class ServiceUnavailable(SaqshyError):
    default_code = ErrorCode.SERVICE_UNAVAILABLE


class DatabaseUnavailable(ServiceUnavailable):
    """The store of record is down, restarting or out of connections: nothing was changed, retry later."""

    default_code = ErrorCode.DATABASE_UNAVAILABLE

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "the database is unavailable; nothing was changed, retry shortly",
            params={"retry_after": retry_after},
            retry_after=retry_after,
        )
