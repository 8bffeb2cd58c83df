"""The review UI: a small vanilla-JS single-page app served by Saqshy itself at ``/``.

Everything the browser needs (HTML, CSS, JS, the ru / kk / en dictionaries) lives in
``review_ui/static`` and is served from this process; the page talks only to the public triage API.
Crawled content is hostile, so :func:`mount_review_ui` also adds the security headers to *every*
response of the app: a strict Content-Security-Policy (no inline script, no remote host of any
kind, Trusted Types so that no string can become HTML), no Referer, no sniffing, no framing.
A page the app registers by its exact path (``page_policies``: the API docs at ``/docs``) gets a
policy of its own instead; nothing a route does at request time can change which policy applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"
CSP = b"content-security-policy"
ASSETS_PREFIX = "/ui"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self'",
        "object-src 'none'",
        "frame-src 'none'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        # The app builds the DOM node by node; no string is ever parsed as HTML or script.
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=(), "
        "clipboard-read=(), display-capture=(), fullscreen=(self)"
    ),
    "X-Permitted-Cross-Domain-Policies": "none",
}


# Stricter policies a route may set for its own responses (the media thumbnails: an image and
# nothing else); any other Content-Security-Policy a route sets is replaced by the app's.
STRICTER_POLICIES = frozenset({b"default-src 'none'; sandbox"})


class SecurityHeadersMiddleware:
    """Pure ASGI middleware (no response buffering) that sets the security headers on every response.

    Headers a route set on purpose (e.g. its own Cache-Control) are kept; the security headers
    always win, so no route can weaken the policy.
    """

    def __init__(
        self, app: ASGIApp, headers: dict[str, str] | None = None, page_policies: Mapping[str, str] | None = None
    ) -> None:
        self.app = app
        chosen = headers or SECURITY_HEADERS
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in chosen.items()]
        self._names = {name for name, _ in self.headers}
        # Fixed when the app is built, matched on the exact request path: a route's own headers
        # never choose a policy (only a stricter one of STRICTER_POLICIES is kept, as before).
        self.page_policies = {path: policy.encode("latin-1") for path, policy in (page_policies or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_https = scope.get("scheme") == "https"
        page_policy = self.page_policies.get(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                stricter = [(k, v) for k, v in headers if k.lower() == CSP and v in STRICTER_POLICIES]
                raw = [(k, v) for k, v in headers if k.lower() not in self._names]
                for k, v in self.headers:
                    if k == CSP and stricter:
                        continue
                    raw.append((k, page_policy if k == CSP and page_policy is not None else v))
                raw.extend(stricter)
                if is_https:
                    raw.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                if not any(k.lower() == b"cache-control" for k, _ in raw):
                    # API answers carry personal data and hostile content: never cache them. The
                    # UI's own assets may be cached but are revalidated (ETag) on every load.
                    static = scope.get("path", "").startswith(ASSETS_PREFIX + "/")
                    raw.append((b"cache-control", b"no-cache" if static else b"no-store"))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount_review_ui(app: FastAPI, page_policies: Mapping[str, str] | None = None) -> None:
    """Serve the UI at ``/`` (assets under ``/ui``) and add the security headers to the whole app.

    ``page_policies`` maps exact paths to the Content-Security-Policy of those pages alone (see
    :class:`SecurityHeadersMiddleware`); every other response gets :data:`CONTENT_SECURITY_POLICY`.
    """
    if getattr(app.state, "review_ui_mounted", False):
        return
    app.state.review_ui_mounted = True
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    def review_ui_index() -> Response:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})

    # Invite links handed out by the API (``/invite/TOKEN``) open the UI's sign-up form.
    @app.get("/invite/{token}", include_in_schema=False)
    def review_ui_invite(token: str) -> Response:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico", include_in_schema=False)
    def review_ui_favicon() -> Response:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    app.mount(ASSETS_PREFIX, StaticFiles(directory=STATIC_DIR), name="review_ui")
    app.add_middleware(SecurityHeadersMiddleware, page_policies=page_policies)


__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "SecurityHeadersMiddleware", "mount_review_ui"]
