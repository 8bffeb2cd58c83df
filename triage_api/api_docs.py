"""The API docs at ``/docs``: Swagger UI served from Saqshy's own origin, never from a CDN.

FastAPI's built-in page loads Swagger UI from jsdelivr and starts it with an inline script; the
app's Content-Security-Policy blocks both, deployments are often offline, and a reviewer's browser
never fetches from another host. So the app turns those pages off (``create_app``) and this module
serves its own: Swagger UI 5 (OpenAPI 3.1) from the ``fastapi-offline`` package's files, started by
``static/api-docs.js``, all under ``/docs-assets``.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

DOCS_PATH = "/docs"
ASSETS_PREFIX = "/docs-assets"
STATIC_DIR = Path(__file__).resolve().parent / "static"
# swagger-ui-bundle.js, swagger-ui.css and favicon.png live in the installed package's folder.
SWAGGER_UI_PACKAGE = ("fastapi_offline", "static")

# The docs page's own policy (the app's strict one stays on every other response). Swagger UI
# (React) writes the operations' markdown descriptions with innerHTML and sets inline styles, which
# the app's Trusted Types 'none' and style-src 'self' block. Loosening those two is safe here: the
# page renders only our own OpenAPI document (written by us, no crawled content), scripts still come
# from this origin only, it connects only to this origin, and session cookies are HttpOnly, so a
# style injected into it could read no credential.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<script defer src="{assets}/swagger-ui-bundle.js"></script>
<script defer src="{assets}/api-docs.js"></script>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
</body>
</html>
"""


class _RevalidatedFiles(StaticFiles):
    """Static files the browser may cache but revalidates (ETag) on every load, like the UI's own."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        # Otherwise the app's default for API answers (no-store) applies: 1.5 MB again on every load.
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def mount_api_docs(app: FastAPI) -> None:
    """Serve the API docs page at :data:`DOCS_PATH` and its assets under :data:`ASSETS_PREFIX`.

    The app's CSP must give :data:`DOCS_PATH` :data:`CONTENT_SECURITY_POLICY` (``create_app``).
    """
    if app.openapi_url is None:
        return
    # Absolute paths, as everywhere in the UI (the app is served at the root of its origin).
    page = PAGE.format(title=escape(app.title), assets=ASSETS_PREFIX, openapi_url=escape(app.openapi_url))

    @app.get(DOCS_PATH, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    app.mount(ASSETS_PREFIX, _RevalidatedFiles(directory=STATIC_DIR, packages=[SWAGGER_UI_PACKAGE]),
              name="api_docs")


__all__ = ["ASSETS_PREFIX", "CONTENT_SECURITY_POLICY", "DOCS_PATH", "mount_api_docs"]
