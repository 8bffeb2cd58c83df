"""Bad input gets a clear error and changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import func, select

from saqshy.db.models import AuditEntry, ReviewTask, Role, Vote
from tests.triage_api.triage_factories import make_tasks


def _state(ctx):  # type: ignore[no-untyped-def]
    with ctx.sessions() as session:
        task = session.execute(select(ReviewTask)).scalar_one()
        return (
            session.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
            session.execute(select(func.count()).select_from(Vote)).scalar_one(),
            task.status, task.vote_count, task.version,
        )


def test_bad_votes_change_nothing(any_client, any_ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    (task_id,) = make_tasks(any_ctx.sessions, 1)
    headers = auth_headers(make_user())
    assert any_client.post("/tasks/claim", headers=headers).status_code == 200
    before = _state(any_ctx)
    url = f"/tasks/{task_id}/votes"
    cases = [
        ("malformed JSON",
         dict(content=b'{"verdict": "legal"', headers={**headers, "content-type": "application/json"}), 422),
        ("wrong type", dict(json={"verdict": 5}), 422),
        ("unknown verdict", dict(json={"verdict": "maybe"}), 422),
        ("unknown field", dict(json={"verdict": "legal", "admin": True}), 422),
        ("huge note", dict(json={"verdict": "legal", "note": "x" * 5000}), 422),
        ("huge category", dict(json={"verdict": "illegal", "category": "y" * 100_000}), 422),
        ("unknown category", dict(json={"verdict": "illegal", "category": "jaywalking"}), 422),
        ("NUL in note", dict(json={"verdict": "legal", "note": "a\x00b"}), 422),
        ("body too large", dict(content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                headers={**headers, "content-type": "application/json"}), 413),
        ("not JSON at all", dict(content=b"\xff\xfe", headers={**headers, "content-type": "application/json"}), 422),
    ]
    for name, kwargs, expected in cases:
        kwargs.setdefault("headers", headers)
        response = any_client.post(url, **kwargs)
        assert response.status_code == expected, (name, response.status_code, response.text[:200])
        assert response.json()["detail"], name
    assert any_client.post("/tasks/2147483647/votes", json={"verdict": "legal"}, headers=headers).status_code == 404
    assert any_client.post("/tasks/99999999999999999999/votes", json={"verdict": "legal"},
                           headers=headers).status_code == 422
    assert any_client.post("/tasks/abc/votes", json={"verdict": "legal"}, headers=headers).status_code == 422
    assert _state(any_ctx) == before


def test_wrong_role_and_bad_tokens_change_nothing(any_client, any_ctx, make_user, auth_headers
                                                  ) -> None:  # type: ignore[no-untyped-def]
    make_tasks(any_ctx.sessions, 1)
    volunteer = auth_headers(make_user())
    before = _state(any_ctx)
    police_only = any_client.put("/cases/1/outcome", json={"outcome": "takedown_requested"}, headers=volunteer)
    assert police_only.status_code == 403 and "requires role" in police_only.json()["detail"]
    assert any_client.get("/audit", headers=volunteer).status_code == 403
    assert any_client.post("/tasks/claim", headers={"Authorization": "Bearer expired-or-forged"}).status_code == 401
    assert any_client.post("/tasks/claim", headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 401
    assert any_client.post("/moderation/tasks/1/resolve", json={"verdict": "legal"},
                           headers=volunteer).status_code == 403
    assert _state(any_ctx) == before


def test_bad_login_and_invite_input(any_client, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    assert any_client.post("/auth/login", json={"email": "a@b.test"}).status_code == 422
    assert any_client.post("/auth/login", json={"email": "x" * 10_000, "password": "p"}).status_code == 422
    assert any_client.post("/auth/login", json={"email": "a\x00@b.test", "password": "p"}).status_code in (401, 422)
    admin = auth_headers(make_user(Role.ADMIN))
    assert any_client.post("/invites", json={"role": "king"}, headers=admin).status_code == 422
    assert any_client.post("/invites", json={"email": "not-an-email"}, headers=admin).status_code == 422
    assert any_client.post("/users", json={"email": "a@b.test", "password": "short", "role": "admin"},
                           headers=admin).status_code == 422
    assert any_client.get("/users/0", headers=admin).status_code == 422
    assert any_client.get("/users/424242", headers=admin).status_code == 404
    assert any_client.get("/tasks", params={"limit": 10_000}, headers=admin).status_code == 422
