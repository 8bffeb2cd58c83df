"""Every endpoint states its roles; walk the whole role x endpoint matrix.

Each operation in the OpenAPI schema carries ``x-roles`` (from its ``require_roles`` guard). For
each role, a disallowed call is a 403 that names the roles required, an allowed call gets past the
guard (whatever the handler then says about the dummy ids and bodies), and no token is a 401.

Endpoints with a required body get a valid one here (``VALID_BODIES``), so an allowed call is
judged by what the handler does past the guard.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from saqshy.db.models import Role
from triage_api.deps import route_roles
from triage_api.main import create_app

PUBLIC = {
    ("GET", "/health"),
    ("POST", "/auth/login"),
    ("POST", "/auth/session"),
    ("POST", "/auth/register"),
    ("GET", "/auth/invites/{token}"),
    # The review UI's page and icon (no data).
    ("GET", "/"),
    ("GET", "/favicon.ico"),
    ("GET", "/invite/{token}"),
    # The API docs page (Swagger UI; the schema it shows is public too).
    ("GET", "/docs"),
    # For a scraper: its own bearer token (SAQSHY_METRICS_TOKEN), or loopback only.
    ("GET", "/metrics"),
}

# Endpoints with a required body: a body that passes validation.
VALID_BODIES = {("POST", "/tasks/{task_id}/votes"): {"verdict": "legal"}}


def _operations():  # type: ignore[no-untyped-def]
    app = create_app()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(context.methods or ()):
            if method == "HEAD":
                continue
            yield method, context.path, route_roles(route)


OPERATIONS = list(_operations())


def _concrete(path: str) -> str:
    # Ids that do not exist: handlers answer 404/422, which is past the role check.
    return re.sub(r"\{[^}]+\}", "999999", path)


def test_every_endpoint_states_its_roles() -> None:
    unguarded = [(m, p) for m, p, roles in OPERATIONS if roles is None and (m, p) not in PUBLIC]
    assert not unguarded, f"endpoints without require_roles(...): {unguarded}"
    schema = create_app().openapi()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("x-roles"), f"{method.upper()} {path} does not state its roles"


@pytest.fixture
def role_users(make_user):  # type: ignore[no-untyped-def]
    return {role: make_user(role) for role in Role}


def test_role_matrix(client: TestClient, role_users, auth_headers) -> None:  # type: ignore[no-untyped-def]
    # Build the search adapter outside a request: built lazily inside one on SQLite, it waits on the
    # request's own write lock (BEGIN IMMEDIATE) until busy_timeout (reported to the lead).
    _ = client.app.state.context.search  # type: ignore[attr-defined]
    client = TestClient(client.app, base_url="https://testserver", raise_server_exceptions=False)
    failures = []
    for method, path, roles in OPERATIONS:
        if roles is None:
            continue
        url = _concrete(path)
        body = VALID_BODIES.get((method, path), {} if method in {"POST", "PUT", "PATCH"} else None)
        anonymous = client.request(method, url, json=body)
        if anonymous.status_code != 401:
            failures.append(f"{method} {path} without a token: {anonymous.status_code}")
        for role in Role:
            # A fresh token each time: the matrix includes POST /auth/logout.
            response = client.request(method, url, json=body, headers=auth_headers(role_users[role]))
            denied = response.status_code == 403 and "requires role" in response.text
            if role in roles and (denied or response.status_code in (401, 500)):
                failures.append(f"{method} {path} as {role.value}: {response.status_code} {response.text[:120]}")
            if role not in roles and not denied:
                failures.append(f"{method} {path} as {role.value} should be 403, got {response.status_code}")
    assert not failures, "\n".join(failures)


def test_vote_refuses_missing_wrong_and_bad_credentials(client: TestClient, role_users, auth_headers) -> None:  # type: ignore[no-untyped-def]
    police = auth_headers(role_users[Role.POLICE])
    assert client.post("/tasks/999999/votes", json={}).status_code == 401
    denied = client.post("/tasks/999999/votes", json={"verdict": "legal"}, headers=police)
    assert denied.status_code == 403 and "requires role" in denied.text
    bad = client.post("/tasks/999999/votes", json={"verdict": "legal"}, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
