"""Health and observability endpoints, open to anyone who can reach the port (probes and
Prometheus do not log in; nothing here reveals a reading or an alert's subject):

- ``GET /healthz``: the process answers (200 ``{"status": "ok"}``);
- ``GET /readyz``: every part this process runs can do its work — ``store`` (the history store
  answers), ``broker`` (the collector is connected), ``collector`` (its threads, receive loop and
  acknowledgements are healthy), ``spool`` (fewer readings waiting than ``api.ready_spool_limit``),
  ``scheduler`` (the alert scheduler runs). 200 when all pass, else 503 naming the failing
  checks; parts not run here (``serve --only``) are not checked;
- ``GET /metrics``: Prometheus text format (`repoclimate.app.services.Metrics`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from repoclimate.app.services import Services

router = APIRouter(tags=["health"])


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.get("/healthz", summary="The process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(services: Services) -> tuple[dict[str, bool], dict[str, list[str]]]:
    """The readiness checks by name, and for a failing composite check what in it failed."""
    checks: dict[str, bool] = {"store": services.store.healthy()}
    details: dict[str, list[str]] = {}
    collector = services.collector
    if collector is not None:
        health = collector.health().checks
        checks["broker"] = health.get("mqtt_connected", False)
        inner = [name for name, ok in health.items() if not ok and name != "mqtt_connected"]
        checks["collector"] = not inner
        if inner:
            details["collector"] = inner
        pending = collector.stats.snapshot().spool_pending
        checks["spool"] = pending < services.settings.api.ready_spool_limit
        if not checks["spool"]:
            details["spool"] = [
                f"{pending} readings waiting, limit {services.settings.api.ready_spool_limit}"
            ]
    if services.scheduler is not None:
        checks["scheduler"] = bool(services.scheduler.running)
    return checks, details


@router.get(
    "/readyz",
    summary="Every part of this process can do its work",
    responses={503: {"description": "Not ready: the failing checks are named"}},
)
def readyz(request: Request) -> JSONResponse:
    checks, details = readiness(_services(request))
    failing = [name for name, ok in checks.items() if not ok]
    body: dict[str, Any] = {
        "status": "failing" if failing else "ok",
        "checks": checks,
        "failing": failing,
    }
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    return Response(_services(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
