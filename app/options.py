"""Command-line options that every `repoclimate` command spells the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repoclimate.app.settings import CONFIG_ENV_VAR

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar=CONFIG_ENV_VAR,
        help="YAML settings file; REPOCLIMATE_* environment variables override it.",
        show_default=False,
    ),
]
"""``--config FILE`` (or ``REPOCLIMATE_CONFIG``): the service's settings file."""
