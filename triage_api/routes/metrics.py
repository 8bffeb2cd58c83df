"""``/metrics`` for a Prometheus scraper (saqshy.metrics): with the bearer token, or from loopback."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST

from saqshy import metrics
from triage_api.deps import ContextDep, SettingsDep

router = APIRouter(tags=["metrics"])


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_scraper(request: Request, settings: SettingsDep) -> None:
    """``SAQSHY_METRICS_TOKEN`` as a bearer token when set; otherwise only loopback clients."""
    if settings.metrics_token is None:
        if not _is_loopback(request.client.host if request.client else None):
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN,
                                detail="/metrics answers loopback only; set SAQSHY_METRICS_TOKEN to scrape it remotely")
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="missing or wrong metrics token",
                            headers={"WWW-Authenticate": "Bearer"})


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_scraper)])
def read_metrics(ctx: ContextDep) -> Response:
    """Every process's event counters and the state read from SQL, in Prometheus' text format."""
    return Response(metrics.render(ctx), media_type=CONTENT_TYPE_LATEST)
