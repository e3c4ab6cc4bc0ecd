"""The HTTP API of `repoclimate serve`: one FastAPI app built by `create_app` from the running
`Services`, with a router per resource.

- ``/api/sites``, ``/api/rooms``, ``/api/sensors`` (`sites`): the registry with present state;
- ``…/history`` (`history`): raw or aggregated history, JSON or CSV, derived series;
- ``/api/alerts``, ``/api/silences`` and the notifications' ack link ``/alerts/{id}/ack``
  (`alerts`);
- ``/api/sensors/unassigned`` (`sensors`): devices the registry does not place;
- ``/api/admin/reload`` (`admin`); ``/api/login``, ``/api/logout``, ``/api/session`` (`auth`);
- ``/healthz``, ``/readyz``, ``/metrics`` (`health`).

The OpenAPI schema is at ``/openapi.json``, its docs at ``/docs``. Who may call what is decided
in `auth`: every route declares its role, and the tests walk the route table to prove it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

from repoclimate.app.api import admin, alerts, auth, health, history, sensors, sites
from repoclimate.app.api.errors import described
from repoclimate.app.services import Services

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

__all__ = ["create_app"]


def create_app(services: Services, lifespan: Lifespan | None = None) -> FastAPI:
    """The API over ``services``; ``lifespan`` (optional) runs around serving, e.g. to start
    the alert scheduler in the server's event loop."""
    app = FastAPI(
        title="repoclimate",
        summary="Climate monitoring for archival repositories",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.auth = auth.Auth(services)
    app.include_router(health.router)
    unreadable: dict[int | str, dict[str, Any]] = {
        400: described("The request body could not be parsed")
    }
    app.include_router(auth.router, responses=unreadable)
    app.include_router(sensors.router)  # before `sites`: /api/sensors/unassigned is not an id
    app.include_router(sites.router)
    app.include_router(history.router)
    app.include_router(alerts.router, responses=unreadable)
    app.include_router(admin.router)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("repoclimate")
    except PackageNotFoundError:
        return "0"
