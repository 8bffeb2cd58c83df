"""Logging set-up and the request id every log line of a request (and of its jobs) carries.

``SAQSHY_LOG_FORMAT=json`` writes one JSON object per line (python-json-logger): ``timestamp``,
``level``, ``logger``, ``message``, ``request_id`` and, for an error, ``exception``. The default
``text`` keeps the usual human-readable lines.
"""

from __future__ import annotations

import logging
import logging.config
import re
import uuid
from contextvars import ContextVar
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

# The request (or the job started by one) this thread or task is working for.
REQUEST_ID: ContextVar[str | None] = ContextVar("saqshy_request_id", default=None)
REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if short and plain: it lands in every log line and in job rows.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is sane, otherwise a fresh one."""
    if header is not None and _SANE_REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record passing through the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: timestamp, level, logger, message, request_id (and exception)."""
    return JsonFormatter(
        "{levelname}{name}{message}{request_id}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
        timestamp=True,
    )


def logging_config(log_format: LogFormat, level: int | str = logging.INFO) -> dict[str, Any]:
    """A ``dictConfig`` for the root logger; uvicorn's loggers propagate to it (so each server
    worker, which applies this config itself, logs in the same format)."""
    formatter: dict[str, Any] = {"()": json_formatter} if log_format == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"saqshy": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "saqshy", "filters": ["request_id"]}},
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {name: {"handlers": [], "propagate": True} for name in UVICORN_LOGGERS},
    }


def configure_logging(log_format: LogFormat, level: int | str = logging.INFO) -> None:
    logging.config.dictConfig(logging_config(log_format, level))
