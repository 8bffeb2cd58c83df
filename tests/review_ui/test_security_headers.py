"""The UI is served by Saqshy itself, and every response of the app carries the security headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from review_ui import CONTENT_SECURITY_POLICY, mount_review_ui
from saqshy.context import Context
from saqshy.settings import Settings
from triage_api.main import create_app


@pytest.fixture
def client(settings: Settings, ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(settings, context=ctx)) as test_client:
        yield test_client


def _assert_secure(headers: dict[str, str] | object) -> None:
    get = headers.get  # type: ignore[attr-defined]
    csp = get("content-security-policy")
    assert csp == CONTENT_SECURITY_POLICY
    for directive in (
        "default-src 'self'", "script-src 'self'", "img-src 'self' data:", "connect-src 'self'",
        "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    assert get("referrer-policy") == "no-referrer"
    assert get("x-content-type-options") == "nosniff"
    assert get("x-frame-options") == "DENY"
    assert get("cross-origin-opener-policy") == "same-origin"


@pytest.mark.parametrize(
    "path",
    ["/", "/ui/js/app.js", "/ui/app.css", "/ui/i18n/kk.json", "/openapi.json", "/invite/abc", "/no-such-page",
     "/users/me", "/favicon.ico"],
)
def test_every_response_is_secured(client: TestClient, path: str) -> None:
    response = client.get(path)
    _assert_secure(response.headers)


def test_api_errors_and_bad_input_are_secured_and_not_cached(client: TestClient) -> None:
    response = client.post("/auth/session", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    _assert_secure(response.headers)
    assert response.headers["cache-control"] == "no-store"


def test_index_and_assets(client: TestClient) -> None:
    index = client.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/js/app.js"></script>' in index.text
    script = client.get("/ui/js/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache"
    assert client.get("/invite/some-token").text == index.text
    # Assets are files under /ui only: no escaping the folder.
    assert client.get("/ui/../review_ui/__init__.py").status_code == 404


def test_mount_is_idempotent() -> None:
    app = FastAPI()
    mount_review_ui(app)
    routes = len(app.routes)
    mount_review_ui(app)
    assert len(app.routes) == routes
