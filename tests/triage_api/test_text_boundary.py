"""Display names, e-mails and notes with invisible or direction-changing characters are refused
at the API boundary (422), and nothing is changed."""

from __future__ import annotations

from sqlalchemy import select

from saqshy.db.models import Role, User
from tests.triage_api.conftest import PASSWORD

RLO_NAME = "Moderator\u202e gpj.exe"


def test_display_names_are_checked_everywhere(client, make_user, auth_headers, ctx) -> None:  # type: ignore[no-untyped-def]
    admin, volunteer = make_user(Role.ADMIN), make_user()
    own = auth_headers(volunteer)
    for name in (RLO_NAME, "\u200b\u200b\u200b", "Dana\u2060"):
        assert client.patch("/users/me", json={"display_name": name}, headers=own).status_code == 422
        assert client.patch(f"/users/{volunteer.id}", json={"display_name": name},
                            headers=auth_headers(admin)).status_code == 422
    body = {"email": "new@example.test", "password": PASSWORD, "role": "volunteer", "display_name": RLO_NAME}
    assert client.post("/users", json=body, headers=auth_headers(admin)).status_code == 422
    token = client.post("/invites", json={"role": "volunteer"}, headers=auth_headers(admin)).json()["token"]
    register = {"token": token, "email": "new@example.test", "password": PASSWORD, "display_name": RLO_NAME}
    assert client.post("/auth/register", json=register).status_code == 422
    assert client.post("/auth/register", json={**register, "display_name": None,
                                                "email": "new\u200b@example.test"}).status_code == 422
    assert client.patch("/users/me", json={"display_name": " Ｄａｎａ "}, headers=own).json()["display_name"] == "Dana"
    with ctx.sessions() as session:
        assert session.execute(select(User).where(User.email == "new@example.test")).first() is None


def test_invite_emails_are_checked(client, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    admin = make_user(Role.ADMIN)
    response = client.post("/invites", json={"role": "volunteer", "email": "a\u202e@example.test"},
                           headers=auth_headers(admin))
    assert response.status_code == 422


def test_notes_are_checked(client, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    volunteer = make_user()
    response = client.post("/tasks/1/votes", json={"verdict": "legal", "note": "fine \u202eetats"},
                           headers=auth_headers(volunteer))
    assert response.status_code == 422
    assert "note" in str(response.json()["detail"])
