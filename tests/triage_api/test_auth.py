"""Accounts, invitations, Argon2, bearer tokens, the session cookie with CSRF, rate-limited login."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from saqshy.db.models import AuditEntry, AuthToken, Role, User, utcnow
from tests.triage_api.conftest import PASSWORD


def _login(client, email, password=PASSWORD, path="/auth/login"):  # type: ignore[no-untyped-def]
    return client.post(path, json={"email": email, "password": password})


def test_password_is_argon2_and_login_gives_bearer_token(client, make_user, ctx) -> None:  # type: ignore[no-untyped-def]
    user = make_user(Role.VOLUNTEER)
    with ctx.sessions() as session:
        assert session.get(User, user.id).password_hash.startswith("$argon2id$")
    response = _login(client, user.email.upper())
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["email"] == user.email
    assert "password_hash" not in me.json()


def test_wrong_password_is_401_without_saying_which(client, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    wrong = _login(client, user.email, "not the password")
    unknown = _login(client, "nobody@example.test")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_login_is_rate_limited(client, make_user, settings) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    for _ in range(settings.triage_login_max_failures):
        assert _login(client, user.email, "wrong password!").status_code == 401
    limited = _login(client, user.email)  # even the right password waits
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0


def test_missing_expired_revoked_tokens_are_401(client, make_user, auth_headers, ctx) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    assert client.get("/auth/me").status_code == 401
    assert client.get("/auth/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    headers = auth_headers(user)
    assert client.get("/auth/me", headers=headers).status_code == 200
    with ctx.sessions.begin() as session:
        session.execute(update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = client.get("/auth/me", headers=headers)
    assert expired.status_code == 401 and expired.headers["www-authenticate"] == "Bearer"
    headers = auth_headers(user)
    assert client.post("/auth/logout", headers=headers).status_code == 204
    assert client.get("/auth/me", headers=headers).status_code == 401


def test_disabled_user_loses_access(client, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    admin, volunteer = make_user(Role.ADMIN), make_user()
    headers = auth_headers(volunteer)
    response = client.patch(f"/users/{volunteer.id}", json={"is_active": False}, headers=auth_headers(admin))
    assert response.status_code == 200, response.text
    assert client.get("/auth/me", headers=headers).status_code == 401
    assert _login(client, volunteer.email).status_code == 401


def test_session_cookie_is_http_only_and_needs_csrf(client, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user(Role.VOLUNTEER)
    response = _login(client, user.email, path="/auth/session")
    assert response.status_code == 200, response.text
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("saqshy_session="))
    assert "HttpOnly" in session_cookie and "Secure" in session_cookie and "SameSite=strict" in session_cookie
    csrf = response.json()["csrf_token"]
    assert "access_token" not in response.json()
    # Safe methods need only the cookie.
    assert client.get("/auth/me").status_code == 200
    # Unsafe ones need the CSRF header too.
    assert client.post("/tasks/claim").status_code == 403
    assert client.post("/tasks/claim", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post("/tasks/claim", headers={"X-CSRF-Token": csrf}).status_code == 204
    # The same on a route with a body.
    vote = {"verdict": "legal"}
    assert client.post("/tasks/999999/votes", json=vote).status_code == 403
    assert client.post("/tasks/999999/votes", json=vote, headers={"X-CSRF-Token": csrf}).status_code == 404
    assert client.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.clear()
    assert client.get("/auth/me").status_code == 401


def test_invite_flow(client, make_user, auth_headers, ctx) -> None:  # type: ignore[no-untyped-def]
    moderator = make_user(Role.MODERATOR)
    headers = auth_headers(moderator)
    assert client.post("/invites", json={"role": "police"}, headers=headers).status_code == 403
    created = client.post("/invites", json={"role": "volunteer", "email": "New@Example.test"}, headers=headers)
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert created.json()["path"] == f"/invite/{token}"
    info = client.get(f"/auth/invites/{token}")
    assert info.json()["role"] == "volunteer" and info.json()["email"] == "new@example.test"
    body = {"token": token, "email": "other@example.test", "password": "long enough password"}
    assert client.post("/auth/register", json=body).status_code == 422
    body["email"] = "new@example.test"
    registered = client.post("/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    assert registered.json()["role"] == "volunteer"
    assert client.post("/auth/register", json=body).status_code == 409  # one-time
    assert _login(client, "new@example.test", "long enough password").status_code == 200
    listed = client.get("/invites", headers=headers).json()
    assert listed["total"] == 1 and "token" not in listed["items"][0]


def test_expired_or_revoked_invite(client, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    admin = make_user(Role.ADMIN)
    headers = auth_headers(admin)
    created = client.post("/invites", json={"role": "police"}, headers=headers).json()
    assert client.delete(f"/invites/{created['id']}", headers=headers).status_code == 204
    body = {"token": created["token"], "email": "cop@example.test", "password": "long enough password"}
    assert client.post("/auth/register", json=body).status_code == 409
    assert client.post("/auth/register", json={**body, "token": "x" * 43}).status_code == 404


def test_role_change_is_audited_and_bounded(client, make_user, auth_headers, ctx) -> None:  # type: ignore[no-untyped-def]
    admin, moderator, volunteer = make_user(Role.ADMIN), make_user(Role.MODERATOR), make_user()
    # A moderator manages volunteers, but cannot promote anyone.
    assert client.patch(f"/users/{volunteer.id}", json={"role": "police"},
                        headers=auth_headers(moderator)).status_code == 403
    assert client.patch(f"/users/{admin.id}", json={"is_active": False},
                        headers=auth_headers(moderator)).status_code == 403
    response = client.patch(f"/users/{volunteer.id}", json={"role": "moderator"}, headers=auth_headers(admin))
    assert response.status_code == 200 and response.json()["role"] == "moderator"
    with ctx.sessions() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "user.update")).scalar_one()
        assert entry.payload == {"role": ["volunteer", "moderator"]} and entry.actor_id == admin.id
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() > 3


def test_cli_user_create_bootstraps_an_admin(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from saqshy import cli as saqshy_cli

    monkeypatch.setattr(saqshy_cli, "settings", lambda: ctx.settings)
    saqshy_cli._mount_sub_apps()
    runner = CliRunner()
    result = runner.invoke(saqshy_cli.app, ["user", "create", "--email", "root@example.test", "--password",
                                            "a very long password"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(saqshy_cli.app, ["user", "create", "--email", "root@example.test", "--password",
                                           "a very long password"])
    assert again.exit_code != 0
    invite = runner.invoke(saqshy_cli.app, ["invite", "create", "--role", "moderator"])
    assert invite.exit_code == 0, invite.output
    assert "/invite/" in invite.stdout
    with ctx.sessions() as session:
        assert session.execute(select(User.role).where(User.email == "root@example.test")).scalar_one() == Role.ADMIN


def test_hot_endpoints_refuse_expired_revoked_and_disabled_callers(client, make_user, auth_headers, ctx) -> None:  # type: ignore[no-untyped-def]
    """The review loop's endpoints refuse expired and revoked tokens and disabled accounts."""
    hot = [("post", "/tasks/claim", None), ("post", "/tasks/1/votes", {"verdict": "legal"})]

    def statuses(headers: dict[str, str]) -> set[int]:
        return {client.request(method, path, json=body, headers=headers).status_code for method, path, body in hot}

    expired_user, revoked_user, disabled_user = make_user(), make_user(), make_user()
    expired, revoked, disabled = (auth_headers(u) for u in (expired_user, revoked_user, disabled_user))
    assert client.post("/tasks/claim", headers=disabled).status_code in (200, 204)
    with ctx.sessions.begin() as session:
        session.execute(update(AuthToken).where(AuthToken.user_id == expired_user.id)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        session.execute(update(AuthToken).where(AuthToken.user_id == revoked_user.id).values(revoked_at=utcnow()))
        session.execute(update(User).where(User.id == disabled_user.id).values(is_active=False))
    assert statuses(expired) == statuses(revoked) == statuses(disabled) == {401}
    assert statuses({"Authorization": "Bearer nonsense"}) == {401}
    police = auth_headers(make_user(Role.POLICE))
    assert statuses(police) == {403}
