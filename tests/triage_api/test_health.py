"""/health: a bare public liveness answer; the detail for signed-in staff. Production refuses to
start with default secrets, insecure cookies or the demo accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from saqshy.context import Context
from saqshy.db.models import Role
from saqshy.errors import InvalidInput
from saqshy.settings import Settings
from tests.triage_api.conftest import PASSWORD
from triage_api.main import create_app
from triage_api.services import security, users


def test_public_health_says_only_ok(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_details_are_for_staff(client, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/health/details").status_code == 401
    assert client.get("/health/details", headers=auth_headers(make_user())).status_code == 403
    body = client.get("/health/details", headers=auth_headers(make_user(Role.ADMIN))).json()
    assert body["status"] == "ok" and body["version"]
    assert {c["name"] for c in body["components"]} >= {"database", "search", "jobs", "audit"}


def test_the_unused_secret_key_setting_is_gone() -> None:
    assert "secret_key" not in Settings.model_fields


def _production(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"env": "production", **changes})


def test_development_never_refuses(ctx: Context, settings: Settings) -> None:
    with ctx.sessions() as session:
        security.refuse_insecure_production(settings.model_copy(update={"triage_cookie_secure": False}), session)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"triage_cookie_secure": False}, "COOKIE_SECURE"),
        ({"database_url": "postgresql://saqshy:saqshy@db:5432/saqshy"}, "database password"),
        ({"police_webhook_url": "https://police.example/hook"}, "WEBHOOK_SECRET"),
        ({"police_webhook_url": "https://police.example/hook",
          "police_webhook_secret": SecretStr("change-me-in-production")}, "WEBHOOK_SECRET"),
    ],
)
def test_production_refuses_default_secrets(settings: Settings, changes: dict[str, object], problem: str) -> None:
    assert any(problem in p for p in security.configuration_problems(_production(settings, **changes)))


def test_production_refuses_a_key_others_can_read(settings: Settings, tmp_path: Path) -> None:
    evidence_key, checkpoint_key = tmp_path / "evidence.pem", tmp_path / "checkpoints.pem"
    production = _production(settings, evidence_signing_key_path=evidence_key,
                             audit_checkpoint_key_path=checkpoint_key)
    for key in (evidence_key, checkpoint_key):
        key.write_text("key")
        key.chmod(0o644)
        assert any(str(key) in p and "chmod 600" in p for p in security.configuration_problems(production))
        key.chmod(0o600)
    assert security.configuration_problems(production) == []


def test_production_server_refuses_to_start_with_demo_accounts(ctx: Context, settings: Settings) -> None:
    with ctx.sessions.begin() as session:
        users.create_user(session, settings, email="volunteer1@demo.saqshy.example", password=PASSWORD,
                          role=Role.VOLUNTEER)
    production = _production(settings)
    ctx.settings = production
    with pytest.raises(InvalidInput, match="demo accounts"), TestClient(create_app(production, context=ctx)):
        pass
