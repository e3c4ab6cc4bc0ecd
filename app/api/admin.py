"""Administration over HTTP: reload the registry and the alert rules without a restart (admin).

`Services.reload` runs the same checks as ``repoclimate check-config`` first; a bad file leaves
the running configuration in place and the errors come back (422), one line each.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from repoclimate.app.api.auth import get_services, require_user
from repoclimate.app.api.errors import AUTH_RESPONSES
from repoclimate.app.services import Services
from repoclimate.app.users import Role, User

router = APIRouter(prefix="/api/admin", tags=["admin"])


class ReloadResult(BaseModel):
    reloaded: bool
    """Whether the new configuration is now in use."""
    errors: list[str]
    """What check-config found (empty when reloaded)."""


@router.post(
    "/reload",
    response_model=ReloadResult,
    responses={
        **AUTH_RESPONSES,
        422: {"model": ReloadResult, "description": "Configuration refused; the running one stays"},
    },
)
def reload(
    user: Annotated[User, Depends(require_user(Role.ADMIN))],
    services: Annotated[Services, Depends(get_services)],
) -> ReloadResult | JSONResponse:
    """Re-read the registry and alert rules; a configuration with errors is not applied."""
    errors = services.reload()
    if errors:
        body = ReloadResult(reloaded=False, errors=list(errors))
        return JSONResponse(body.model_dump(), status_code=422)
    return ReloadResult(reloaded=True, errors=[])
