"""The password policy (ASVS V2.1): length after NFKC, no invisible padding, no common, guessable
or personal passwords; applied at invite acceptance, user creation (API and CLI) and password change."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from saqshy.db.models import Role, User
from saqshy.errors import InvalidInput
from tests.triage_api.conftest import PASSWORD
from triage_api.services.password_policy import check_password

EMAIL = "aigerim.nurlanova@example.test"
NAME = "Aigerim Nurlanova"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        (" " * 12, "spaces or invisible"),
        ("\u200b" * 12, "spaces or invisible"),
        ("\u3000\u200b\u2060" * 4, "spaces or invisible"),
        ("abc\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b", "at least 12"),
        ("1234567890", "at least 12"),
        ("password12", "at least 12"),
        ("password1234", "common"),
        ("qwertyuiop12", "common"),
        ("123456789012", "easy to guess"),
        ("aaaaaaaaaaaaaaaa", "easy to guess"),
        (EMAIL, "e-mail"),
        (EMAIL.upper() + "!", "e-mail"),
        ("nurlanova-secret-words", "e-mail address or name"),
        ("ｐａｓｓｗｏｒｄ１２３４", "common"),  # full-width: NFKC makes it password1234
    ],
)
def test_refused_passwords(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_password(password, email=EMAIL, display_name=NAME)


@pytest.mark.parametrize("password", [PASSWORD, "saqshy-demo-only", "тёмная вода под мостом", "Tr0ub4dor&3xx"])
def test_accepted_passwords(password: str) -> None:
    check_password(password, email=EMAIL, display_name=NAME)


def test_invite_acceptance_applies_the_policy(client, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    admin = make_user(Role.ADMIN)
    token = client.post("/invites", json={"role": "volunteer"}, headers=auth_headers(admin)).json()["token"]
    body = {"token": token, "email": "new@example.test", "password": "password1234"}
    refused = client.post("/auth/register", json=body)
    assert refused.status_code == 422 and "common" in refused.json()["detail"]
    assert client.post("/auth/register", json={**body, "password": "\u200b" * 12}).status_code == 422
    assert client.post("/auth/register", json={**body, "password": "new@example.test"}).status_code == 422
    assert client.post("/auth/register", json={**body, "password": PASSWORD}).status_code == 201


def test_user_creation_applies_the_policy(client, make_user, auth_headers, ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    admin = make_user(Role.ADMIN)
    body = {"email": "cop@example.test", "role": "police", "password": "1234567890ab"}
    assert client.post("/users", json=body, headers=auth_headers(admin)).status_code == 422

    from saqshy import cli as saqshy_cli

    monkeypatch.setattr(saqshy_cli, "settings", lambda: ctx.settings)
    saqshy_cli._mount_sub_apps()
    result = CliRunner().invoke(saqshy_cli.app, ["user", "create", "--email", "root@example.test",
                                                 "--password", "password1234"])
    assert result.exit_code != 0
    with ctx.sessions() as session:
        created = select(User).where(User.email.in_(["root@example.test", "cop@example.test"]))
        assert session.execute(created).first() is None


def test_password_change_applies_the_policy(client, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    headers = auth_headers(user)
    weak = client.post("/users/me/password", json={"current_password": PASSWORD, "new_password": " " * 12},
                       headers=headers)
    assert weak.status_code == 422
    personal = client.post("/users/me/password", json={"current_password": PASSWORD, "new_password": user.email},
                           headers=headers)
    assert personal.status_code == 422
    assert client.post("/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 200
