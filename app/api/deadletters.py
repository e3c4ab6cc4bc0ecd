"""The collector's dead letters over HTTP: how many messages it refused, by reason.

``GET /api/deadletters`` lists one row per rejection reason with its count since this process's
collector started (the counters `/metrics` exports as ``repoclimate_messages_rejected_total``),
plus ``store_rejected`` for readings the store refused; each of those became one dead-letter
record. It is a flat JSON array so the Grafana Sensor health dashboard reads it with the Infinity
data source. A process that runs no collector (``serve --only api``) answers 404: it has no
counts to give, and an empty list would read as "nothing refused" (not 503: the process is not
failing, the resource is elsewhere — in the process that runs the collector).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel

from repoclimate.app.api.auth import get_services, require
from repoclimate.app.api.errors import AUTH_RESPONSES, described
from repoclimate.app.services import Services
from repoclimate.app.users import Role

router = APIRouter(tags=["collector"])
ServicesDep = Annotated[Services, Depends(get_services)]

STORE_REJECTED = "store_rejected"
"""The reason a dead letter carries when the store refused the reading (`ingest.writer`)."""


class DeadLetterCount(BaseModel):
    """Messages refused for one reason since the collector started."""

    reason: str
    count: int


@router.get(
    "/api/deadletters",
    response_model=list[DeadLetterCount],
    responses={
        **AUTH_RESPONSES,
        404: described("This process runs no collector (serve --only without collector)"),
    },
    dependencies=[Depends(require(Role.VIEWER))],
)
def dead_letters(services: ServicesDep) -> list[DeadLetterCount]:
    """Dead letters by reason, most first (reasons with none are not listed)."""
    collector = services.collector
    if collector is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this process runs no collector")
    stats = collector.stats.snapshot()
    counts = dict(stats.rejected)
    if stats.store_rejected:
        counts[STORE_REJECTED] = counts.get(STORE_REJECTED, 0) + stats.store_rejected
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [DeadLetterCount(reason=reason, count=count) for reason, count in rows if count]
