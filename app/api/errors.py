"""The API's error answers, in the two shapes its OpenAPI schema declares: 422 as FastAPI's own
validation error (a list of ``{loc, msg, type}``), every other 4xx as ``{"detail": "…"}``."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel


class Message(BaseModel):
    """Why a request was refused."""

    detail: str


def invalid(where: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 naming the offending input (``("query", "start")``, ``("body", "ends_at")``)."""
    return RequestValidationError(
        [{"loc": where, "msg": message, "type": "value_error", "input": None}]
    )


def described(description: str) -> dict[str, Any]:
    """An OpenAPI response entry with a `Message` body."""
    return {"model": Message, "description": description}


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: described("Not logged in, or a bad or expired credential"),
    403: described("Role too low, or missing CSRF token"),
}
