"""Fixtures for API tests: an app on the test store, users of any role, and their credentials.

    def test_something(client, make_user, auth_headers):
        police = make_user(Role.POLICE)
        response = client.get("/cases", headers=auth_headers(police))

``client`` runs on SQLite; ``any_client`` (with ``any_ctx``) runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from saqshy.context import Context
from saqshy.db.models import Role, User
from saqshy.db.session import make_session_factory
from saqshy.settings import Settings
from triage_api.main import create_app
from triage_api.services import auth, users

PASSWORD = "correct horse battery staple"

# Cheap Argon2 parameters: tests hash hundreds of passwords on a shared two-core machine.
FAST_AUTH = {
    "triage_argon2_time_cost": 1,
    "triage_argon2_memory_kib": 8,
    "triage_argon2_parallelism": 1,
    "triage_exploration_share": 0.0,
    "triage_gold_share": 0.0,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with cheap password hashing and no random lanes in the queue."""
    return settings.model_copy(update=FAST_AUTH)


@pytest.fixture
def any_ctx(settings: Settings, sql_engine: Engine) -> Iterator[Context]:
    """A context on each engine we ship (SQLite, then PostgreSQL when reachable)."""
    context = Context(settings=settings, engine=sql_engine, sessions=make_session_factory(sql_engine))
    yield context
    # Stops the job pool (escalation jobs queued after commit) before the next test truncates.
    context.close()


def _client(settings: Settings, context: Context) -> Iterator[TestClient]:
    # https so the Secure session cookie is sent back, as a browser would.
    with TestClient(create_app(settings, context=context), base_url="https://testserver") as test_client:
        yield test_client


@pytest.fixture
def client(settings: Settings, ctx: Context) -> Iterator[TestClient]:
    yield from _client(settings, ctx)


@pytest.fixture
def any_client(settings: Settings, any_ctx: Context) -> Iterator[TestClient]:
    yield from _client(settings, any_ctx)


@pytest.fixture
def app_ctx(request: pytest.FixtureRequest) -> Context:
    """The context behind whichever client the test uses."""
    if "any_ctx" in request.fixturenames:
        return request.getfixturevalue("any_ctx")  # type: ignore[no-any-return]
    return request.getfixturevalue("ctx")  # type: ignore[no-any-return]


@pytest.fixture
def make_user(app_ctx: Context) -> Callable[..., User]:
    """``make_user(Role.MODERATOR, email=..., password=...)``: a committed, active user."""
    counter = iter(range(1, 1_000_000))

    def make(role: Role = Role.VOLUNTEER, **overrides: Any) -> User:
        n = next(counter)
        with app_ctx.sessions.begin() as session:
            user = users.create_user(
                session,
                app_ctx.settings,
                email=overrides.pop("email", f"{role.value}{n}@example.test"),
                password=overrides.pop("password", PASSWORD),
                role=role,
                display_name=overrides.pop("display_name", f"{role.value.title()} {n}"),
            )
            for key, value in overrides.items():
                setattr(user, key, value)
        return user

    return make


@pytest.fixture
def auth_headers(app_ctx: Context) -> Callable[[User], dict[str, str]]:
    """``auth_headers(user)``: an ``Authorization: Bearer`` header with a fresh token for the user."""

    def headers(user: User) -> dict[str, str]:
        with app_ctx.sessions.begin() as session:
            issued = auth.issue_token(session, app_ctx.settings, session.get(User, user.id))  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {issued.token}"}

    return headers
