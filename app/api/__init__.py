"""The HTTP API of `repoclimate serve`: one FastAPI app built by `create_app` from the running
`Services`, with a router per resource.

- ``/api/sites``, ``/api/rooms``, ``/api/sensors`` (`sites`): the registry with present state;
- ``…/history`` (`history`): raw or aggregated history, JSON or CSV, derived series;
- ``/api/alerts``, ``/api/silences`` and the notifications' ack link ``/alerts/{id}/ack``
  (`alerts`);
- ``/api/unassigned`` (`sensors`): devices the registry does not place;
- ``/api/deadletters`` (`deadletters`): the collector's refused messages, by reason;
- ``/api/export`` (`exports`): history as CSV or Parquet; ``/api/import`` (`imports`): logger
  files uploaded into the store;
- ``/api/admin/reload`` (`admin`); ``/api/login``, ``/api/logout``, ``/api/session`` (`auth`);
- ``/healthz``, ``/readyz``, ``/metrics`` (`health`).

The OpenAPI schema is at ``/openapi.json``, its docs at ``/docs``: Swagger UI served by the app
itself from the ``swagger-ui-bundle-v2`` package (``/docs/assets/…``), so the page works on a
network that reaches no other host. Who may call what is decided
in `auth`: every route declares its role, and the tests walk the route table to prove it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from repoclimate.app import web
from repoclimate.app.api import (
    admin,
    alerts,
    auth,
    deadletters,
    exports,
    health,
    history,
    imports,
    reports,
    sensors,
    sites,
)
from repoclimate.app.api.errors import described
from repoclimate.app.services import Services

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

__all__ = ["create_app"]

REQUEST_THREADS = 8
"""Threads the API's (blocking) route functions run in. Starlette's default is 40: under load
40 threads contend for the GIL with the event loop, and bench/api.py answered 38 req/s with 40
against 95 req/s with 4 on the same machine. Store reads release the GIL, so a few threads
keep the CPU busy; a few more leave room for a slow InfluxDB query."""


def create_app(services: Services, lifespan: Lifespan | None = None) -> FastAPI:
    """The API over ``services``; ``lifespan`` (optional) runs around serving, e.g. to start
    the alert scheduler in the server's event loop."""

    @asynccontextmanager
    async def serving(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        if lifespan is None:
            yield
            return
        async with lifespan(app):
            yield

    app = FastAPI(
        title="repoclimate",
        summary="Climate monitoring for archival repositories",
        version=_version(),
        lifespan=serving,
        docs_url=None,  # FastAPI's own page loads Swagger UI from a CDN: see `_install_docs`
        redoc_url=None,
    )
    _install_docs(app)
    app.state.services = services
    app.state.auth = auth.Auth(services)
    app.state.room_snapshots = sites.RoomSnapshots(services.settings.api.present_cache_s)
    app.include_router(health.router)
    unreadable: dict[int | str, dict[str, Any]] = {
        400: described("The request body could not be parsed")
    }
    app.include_router(auth.router, responses=unreadable)
    # /api/unassigned has a path of its own: every sensor id, even "unassigned", reaches
    # /api/sensors/{id} (schemathesis found the clash of /api/sensors/unassigned)
    app.include_router(sensors.router)
    app.include_router(sites.router)
    app.include_router(history.router)
    app.include_router(alerts.router, responses=unreadable)
    app.include_router(admin.router)
    app.include_router(reports.router)
    app.include_router(exports.router)  # GET /api/export: CSV or Parquet, streamed
    app.include_router(imports.router, responses=unreadable)  # POST /api/import: logger files
    app.include_router(deadletters.router)  # /api/deadletters: the collector's refusals
    web.install(app)  # the built-in pages (app/web/): /, /rooms/…, /alerts, /sensors, /login
    return app


DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
"""The Swagger UI files ``/docs`` needs, served from the installed package."""


def _install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI over ``/openapi.json`` with every file from this app."""

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + str(app.openapi_url),
            title=f"{app.title} — API",
            swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/assets/favicon-32x32.png",
        )

    for name, media_type in DOCS_ASSETS.items():
        app.add_api_route(
            f"/docs/assets/{name}",
            _asset(name, media_type),
            methods=["GET"],
            include_in_schema=False,
        )


def _asset(name: str, media_type: str) -> Callable[[], Any]:
    path = swagger_ui_path / name

    async def asset() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=86400"})

    return asset


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("repoclimate")
    except PackageNotFoundError:
        return "0"
