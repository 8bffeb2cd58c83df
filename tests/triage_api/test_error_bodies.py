"""Every error answer carries a stable ``code`` and its ``params`` beside ``detail`` (and ``error``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import exc as sql_errors

from saqshy.db.models import Role, User
from tests.triage_api.conftest import PASSWORD
from triage_api.exception_handlers import database_unreachable


def test_domain_errors_have_their_specific_code(
    client: TestClient, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    moderator = auth_headers(make_user(Role.MODERATOR))
    refused = client.post("/invites", json={"role": "admin"}, headers=moderator)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "a moderator cannot invite a admin", "error": "Forbidden",
                              "code": "role_grant_forbidden", "params": {"role": "admin"}}
    unknown = client.put("/moderation/thresholds/nonsense", json={"threshold": 0.5}, headers=moderator)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_category")
    assert unknown.json()["params"] == {"category": "nonsense"}
    missing = client.post("/tasks/424242/votes", json={"verdict": "legal"}, headers=auth_headers(make_user()))
    assert (missing.json()["code"], missing.json()["params"]) == ("task_not_found", {"id": 424242})


def test_login_failures_and_lockout_have_codes(client: TestClient, make_user: Callable[..., User]) -> None:
    user = make_user()
    wrong = client.post("/auth/login", json={"email": user.email, "password": "not the password"})
    assert wrong.status_code == 401
    assert (wrong.json()["code"], wrong.json()["detail"]) == ("login_failed", "wrong e-mail or password")
    for _ in range(10):
        locked = client.post("/auth/login", json={"email": user.email, "password": "not the password"})
        if locked.status_code == 429:
            break
    assert locked.status_code == 429 and locked.json()["code"] == "login_rate_limited"
    assert int(locked.headers["Retry-After"]) >= 1
    assert locked.json()["params"]["retry_after"] >= 1
    # Locked out even with the right password until the window passes.
    assert client.post("/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 429


def test_validation_and_http_errors_have_generic_codes(
    client: TestClient, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    moderator = auth_headers(make_user(Role.MODERATOR))
    out_of_range = client.put("/moderation/thresholds/drugs", json={"threshold": 1.5}, headers=moderator)
    body = out_of_range.json()
    assert out_of_range.status_code == 422 and isinstance(body["detail"], list)
    assert (body["code"], body["params"]) == ("value_out_of_range", {"field": "threshold", "lt": 1.0})
    absent = client.post("/auth/login", json={"email": "a@b.test"}).json()
    assert (absent["code"], absent["params"]) == ("field_missing", {"field": "password"})
    anonymous = client.post("/tasks/claim")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    police = auth_headers(make_user(Role.POLICE))
    assert client.get("/moderation/queue", headers=police).json()["code"] == "role_required"


def test_only_a_database_out_of_reach_is_answered_503() -> None:
    """A store that is down, restarting or out of connections is worth retrying (PostgreSQL restarted for
    real: tests/triage_api/test_postgres_restart.py); a statement the database refused is a bug (500)."""
    cause = Exception("server closed the connection unexpectedly")
    assert database_unreachable(sql_errors.OperationalError("SELECT 1", {}, cause))
    assert database_unreachable(sql_errors.InterfaceError("SELECT 1", {}, cause))
    assert database_unreachable(sql_errors.TimeoutError("QueuePool limit reached"))
    assert not database_unreachable(sql_errors.ProgrammingError("SELEC 1", {}, Exception("syntax error")))
    assert not database_unreachable(sql_errors.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not database_unreachable(ValueError("not a database error"))
