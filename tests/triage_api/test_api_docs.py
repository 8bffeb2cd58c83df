"""The API docs page at /docs: Swagger UI from Saqshy's own origin, with a policy of its own."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from review_ui import CONTENT_SECURITY_POLICY, mount_review_ui
from saqshy.context import Context
from saqshy.settings import Settings
from triage_api import api_docs
from triage_api.main import create_app

DOCS_POLICY = api_docs.CONTENT_SECURITY_POLICY


@pytest.fixture
def client(settings: Settings, ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(settings, context=ctx)) as test_client:
        yield test_client


def _references(html: str) -> list[str]:
    return re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", html, re.I)


def test_docs_page_is_self_contained(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<title>Saqshy triage API - Swagger UI</title>" in html
    references = _references(html)
    assert references, "the page references its assets"
    assert all(ref.startswith(api_docs.ASSETS_PREFIX + "/") for ref in references), references
    assert "http" not in " ".join(references) and "//" not in " ".join(references)
    # Every <script> loads a file of ours and has no body; no inline style either.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
    assert len(scripts) == 2
    assert all("src=" in attrs and body.strip() == "" for attrs, body in scripts)
    assert "<style" not in html and " style=" not in html and not re.search(r"\son[a-z]+\s*=", html)


def test_docs_page_has_its_own_policy(client: TestClient) -> None:
    csp = client.get("/docs").headers["content-security-policy"]
    assert csp == DOCS_POLICY
    directives = {d.split()[0]: d for d in csp.split("; ")}
    assert directives["script-src"] == "script-src 'self'"
    assert directives["style-src"] == "style-src 'self' 'unsafe-inline'"
    for directive in ("default-src 'self'", "connect-src 'self'", "img-src 'self' data:", "object-src 'none'",
                      "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"):
        assert directive in csp
    assert "unsafe-eval" not in csp and "http" not in csp and "trusted-types" not in csp


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("swagger-ui-bundle.js", "javascript"), ("api-docs.js", "javascript"), ("swagger-ui.css", "text/css"),
     ("favicon.png", "image/png")],
)
def test_docs_assets_are_served(client: TestClient, name: str, content_type: str) -> None:
    page = client.get("/docs").text
    url = f"{api_docs.ASSETS_PREFIX}/{name}"
    assert url in page
    response = client.get(url)
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert response.headers["cache-control"] == "no-cache"  # cached, revalidated by ETag
    # The assets themselves (and everything but the page) keep the app's strict policy.
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_swagger_ui_is_version_5(client: TestClient) -> None:
    # Swagger UI 4 cannot show OpenAPI 3.1, which FastAPI writes.
    bundle = client.get(f"{api_docs.ASSETS_PREFIX}/swagger-ui-bundle.js").text
    assert re.search(r'"5\.\d+\.\d+"', bundle)
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_init_script_sends_nothing_elsewhere() -> None:
    source = (api_docs.STATIC_DIR / "api-docs.js").read_text(encoding="utf-8")
    assert "validatorUrl: null" in source
    assert "queryConfigEnabled: false" in source
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", source, re.I)
    for sink in ("innerHTML", "eval(", "new Function", "document.write"):
        assert sink not in source


def test_other_pages_keep_the_strict_policy(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    for path in ("/", "/health", "/openapi.json", "/docs/", "/docs-assets/", "/ui/app.css", "/no-such-page"):
        response = client.get(path, follow_redirects=False)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    assert all(not path.startswith(("/docs", api_docs.ASSETS_PREFIX)) for path in schema.json()["paths"])


def test_fastapi_own_doc_pages_are_gone(client: TestClient) -> None:
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"{api_docs.ASSETS_PREFIX}/../api_docs.py").status_code == 404


def test_only_the_registered_page_gets_its_policy() -> None:
    # A route that sets the docs policy (or any other) on its own answer still gets the strict one.
    app = FastAPI()

    @app.get("/docs")
    def page() -> dict[str, str]:
        return {}

    @app.get("/elsewhere")
    def elsewhere() -> JSONResponse:
        return JSONResponse({}, headers={"Content-Security-Policy": DOCS_POLICY})

    mount_review_ui(app, page_policies={"/docs": DOCS_POLICY})
    client = TestClient(app)
    assert client.get("/docs").headers.get_list("content-security-policy") == [DOCS_POLICY]
    assert client.get("/elsewhere").headers.get_list("content-security-policy") == [CONTENT_SECURITY_POLICY]
    assert client.get("/docs?x=1").headers.get_list("content-security-policy") == [DOCS_POLICY]
