"""Per request: its id (``X-Request-ID``, in every log line and job it starts) and its latency metric."""

from __future__ import annotations

import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saqshy.logs import REQUEST_ID, REQUEST_ID_HEADER, request_id_from
from saqshy.metrics import HTTP_REQUESTS, UNMATCHED_ROUTE

# Any other method is counted as "other": the label's values stay few whatever clients send.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestObservability:
    """Sets the request id for the request's logs and answer, and times the request by route template.

    The route's template (``/tasks/{task_id}/votes``), never the raw path, so the metric's labels
    stay bounded. On an unhandled error the id stays set, so the error's log lines carry it too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope).get(REQUEST_ID_HEADER))
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in METHODS else "other"
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).observe(time.perf_counter() - started)
        REQUEST_ID.reset(token)
