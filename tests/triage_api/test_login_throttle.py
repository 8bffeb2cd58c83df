"""Guessing is throttled per (account, address) and per address, never by locking the account
(ASVS V2.2.1): the owner's right password from another address still works."""

from __future__ import annotations

from collections.abc import Callable

from saqshy.context import Context
from saqshy.db.models import User
from saqshy.settings import Settings
from tests.triage_api.conftest import PASSWORD
from triage_api.services import auth


def _try(ctx: Context, email: str, password: str, ip: str) -> str:
    """One login through the service, committed like the route does: "ok", "wrong" or "limited"."""
    with ctx.sessions() as session:
        try:
            auth.authenticate(session, ctx.settings, email, password, ip)
        except auth.RateLimited:
            return "limited"
        except auth.AuthenticationFailed:
            session.commit()
            return "wrong"
        session.commit()
        return "ok"


def test_failures_from_one_address_do_not_lock_the_owner_out(ctx: Context, make_user: Callable[..., User],
                                                             settings: Settings) -> None:
    victim = make_user()
    for _ in range(settings.triage_login_max_failures * 3):
        _try(ctx, victim.email, "wrong password!", "203.0.113.66")
    assert _try(ctx, victim.email, PASSWORD, "203.0.113.66") == "limited"  # the guessing address waits
    assert _try(ctx, victim.email, PASSWORD, "198.51.100.7") == "ok"  # the owner, elsewhere, does not


def test_a_successful_login_forgives_that_address_its_typos(ctx: Context, make_user: Callable[..., User],
                                                          settings: Settings) -> None:
    user = make_user()
    for _ in range(2):
        for _ in range(settings.triage_login_max_failures - 1):
            assert _try(ctx, user.email, "a typo in it!", "198.51.100.7") == "wrong"
        assert _try(ctx, user.email, PASSWORD, "198.51.100.7") == "ok"


def test_one_address_spraying_many_accounts_is_limited(ctx: Context, make_user: Callable[..., User],
                                                       settings: Settings) -> None:
    people = [make_user() for _ in range(4)]
    for person in people:
        for _ in range(settings.triage_login_max_failures):
            assert _try(ctx, person.email, "wrong password!", "203.0.113.66") == "wrong"
    newcomer = make_user()
    assert _try(ctx, newcomer.email, PASSWORD, "203.0.113.66") == "limited"
    assert _try(ctx, newcomer.email, PASSWORD, "198.51.100.7") == "ok"


def test_guesses_from_many_addresses_slow_each_of_them_down(ctx: Context, make_user: Callable[..., User],
                                                            settings: Settings) -> None:
    victim = make_user()
    addresses = [f"203.0.113.{n}" for n in range(1, settings.triage_login_max_failures + 2)]
    for address in addresses:
        assert _try(ctx, victim.email, "wrong password!", address) == "wrong"
    # Each guessing address now waits before its next try; a fresh address is served at once.
    assert _try(ctx, victim.email, "wrong password!", addresses[0]) == "limited"
    assert _try(ctx, victim.email, PASSWORD, "198.51.100.7") == "ok"


def test_rate_limited_login_answers_429_with_retry_after(client, make_user, settings) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    for _ in range(settings.triage_login_max_failures):
        client.post("/auth/login", json={"email": user.email, "password": "wrong password!"})
    limited = client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_password_change_signs_out_every_other_session(client, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    other_device, this_device = auth_headers(user), auth_headers(user)
    new = "a fresh and different passphrase"
    changed = client.post("/users/me/password", json={"current_password": PASSWORD, "new_password": new},
                          headers=this_device)
    assert changed.status_code == 204, changed.text
    assert client.get("/auth/me", headers=other_device).status_code == 401
    assert client.get("/auth/me", headers=this_device).status_code == 200
    assert client.post("/auth/login", json={"email": user.email, "password": new}).status_code == 200


def test_guesses_at_the_password_change_are_rate_limited(client, make_user, auth_headers, settings) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    headers = auth_headers(user)
    body = {"current_password": "a wrong guess!", "new_password": "a fresh and different passphrase"}
    for _ in range(settings.triage_login_max_failures):
        assert client.post("/users/me/password", json=body, headers=headers).status_code == 422
    limited = client.post("/users/me/password", json={**body, "current_password": PASSWORD}, headers=headers)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert client.post("/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 429
