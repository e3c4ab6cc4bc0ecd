"""The built-in web pages of `repoclimate serve` (overview, room, alerts, sensors, login), served
beside the JSON API by the same app, on the same sessions and roles. See `pages`."""

from __future__ import annotations

from fastapi import FastAPI

from repoclimate.app.web.pages import (
    STATIC_PATH,
    LoginNeededError,
    login_redirect,
    router,
    static_files,
)

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Add the pages, their static files and the login redirect to ``app``."""
    app.include_router(router)
    app.mount(STATIC_PATH, static_files(), name="static")
    app.add_exception_handler(LoginNeededError, login_redirect)  # type: ignore[arg-type]
