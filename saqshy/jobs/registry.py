"""Job names and the functions behind them.

A job is a plain function ``fn(ctx, **args)`` registered under a stable name::

    @job("search.index_item")
    def index_item(ctx: Context, item_id: int) -> None:
        with session_scope(ctx.sessions) as session:
            ...

Jobs take ids (never ORM objects), open their own session and are idempotent: a job may run
more than once (a retry after a crash half-way, a requeue after Redis was lost).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from saqshy.errors import InvalidInput

if TYPE_CHECKING:
    from saqshy.settings import Settings


MAX_NAME_CHARS = 150

F = TypeVar("F", bound=Callable[..., Any])


# A job's attempts as a number, or as read from the settings (an operator's choice).
Attempts = int | Callable[["Settings"], int]


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: Callable[..., Any]
    # Attempts before the job is marked failed; None: settings.job_max_attempts.
    max_attempts: Attempts | None = None
    # Hard time limit in seconds for one attempt where the adapter can enforce it (RQ);
    # None: the adapter's default.
    timeout: float | None = None

    def attempts(self, settings: Settings) -> int:
        """How many attempts the job gets under ``settings`` (its declared retry policy)."""
        if self.max_attempts is None:
            return settings.job_max_attempts
        return self.max_attempts(settings) if callable(self.max_attempts) else self.max_attempts


_registry: dict[str, JobSpec] = {}
_lock = threading.Lock()


def job(name: str, *, max_attempts: Attempts | None = None, timeout: float | None = None) -> Callable[[F], F]:
    """Register ``fn(ctx, **args)`` as the job called ``name``.

    ``max_attempts`` is the job's retry policy: a number, or a function of the settings (for a
    policy an operator sets); None: ``settings.job_max_attempts``.
    """
    if not name or len(name) > MAX_NAME_CHARS or name != name.strip():
        raise ValueError(f"job name must be 1-{MAX_NAME_CHARS} characters without outer spaces: {name!r}")
    if isinstance(max_attempts, int) and max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def register(fn: F) -> F:
        with _lock:
            known = _registry.get(name)
            # The same function imported twice (a module reloaded, or reached under two
            # names) replaces itself; two different functions under one name is a bug.
            if known is not None and _qualified(known.fn) != _qualified(fn):
                raise ValueError(f"job {name!r} is already registered by {_qualified(known.fn)}, not {_qualified(fn)}")
            _registry[name] = JobSpec(name=name, fn=fn, max_attempts=max_attempts, timeout=timeout)
        return fn

    return register


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def get_job_spec(name: str) -> JobSpec:
    """The registered job ``name``; ``InvalidInput`` if no job has that name."""
    spec = _registry.get(name)
    if spec is None:
        _import_catalog()
        spec = _registry.get(name)
    if spec is None:
        known = ", ".join(sorted(_registry)) or "none"
        raise InvalidInput(f"unknown job {name!r} (registered jobs: {known})", name=name)
    return spec


def get_job(name: str) -> Callable[..., Any]:
    """The function registered as job ``name``; ``InvalidInput`` if no job has that name."""
    return get_job_spec(name).fn


def registered_jobs() -> dict[str, JobSpec]:
    _import_catalog()
    return dict(_registry)


def _import_catalog() -> None:
    # Imported here, not at the top: the job modules import this one.
    import saqshy.jobs.catalog  # noqa: F401


def check_args(spec: JobSpec, args: dict[str, Any]) -> None:
    """Refuse at enqueue time the arguments the function could never be called with."""
    try:
        inspect.signature(spec.fn).bind(None, **args)
    except TypeError as exc:
        raise InvalidInput(f"bad arguments for job {spec.name!r}: {exc}", name=spec.name) from None
