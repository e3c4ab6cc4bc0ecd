"""Settings of the reports (the service settings' ``reports`` section; `app.settings` composes
them): which engine prints a report's PDF, and where the browser is."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PdfEngine = Literal["auto", "chromium", "weasyprint"]


class ReportSettings(BaseModel):
    """How a report becomes a PDF (`reports.pdf`).

    ``pdf_engine``: ``chromium`` prints the report's HTML with a headless Chromium (a
    subprocess; ≈ 4× faster than WeasyPrint on a year report of 50 rooms), ``weasyprint`` lays it
    out in this process, ``auto`` takes Chromium when one is found — ``chromium`` if set, else
    ``chromium``, ``chromium-browser`` or ``google-chrome`` on ``PATH`` — and WeasyPrint
    otherwise. ``chromium``: the browser's executable (relative: to the config file); a path
    that does not exist is an error, not a reason to fall back. ``chromium_timeout_s``: the
    browser is killed after this long and the report fails.
    """

    model_config = ConfigDict(extra="forbid")

    pdf_engine: PdfEngine = "auto"
    chromium: Path | None = None
    chromium_timeout_s: float = Field(default=300.0, gt=0, le=3600)
