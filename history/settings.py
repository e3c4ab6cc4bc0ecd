"""Settings of the reading store; `app.settings` composes them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class StoreSettings(BaseModel):
    """Which store keeps the readings and how to reach it.

    ``api_version`` picks the InfluxDB write path: ``v2`` writes through influxdb-client's
    ``/api/v2/write`` (InfluxDB 1.8+, 2.x, 3.x), ``v1`` through the 1.x ``/write`` endpoint (older
    1.x servers such as Debian's 1.6). Reads are InfluxQL over ``/query`` either way.
    ``retention_policy`` set makes the v2 bucket ``database/retention_policy`` (InfluxDB 1.8);
    the raw readings go there (created with ``DURATION INF`` on 1.x when absent and
    ``create_database`` allows), the rollups to ``rollup_retention_policy``.
    Credentials: ``token`` is sent as ``Authorization: Token …`` (2.x/3.x); ``username`` and
    ``password`` as 1.x ``u``/``p`` parameters, and as the ``username:password`` token of 1.8's
    v2 write API. ``create_database`` lets the store run ``CREATE DATABASE`` when a write finds the
    database missing (1.x only; on 2.x create the bucket and its DBRP mapping beforehand).
    ``gzip`` compresses write bodies.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["influxdb", "sqlite"] = "sqlite"
    sqlite_path: Path = Path("repoclimate.sqlite")
    url: str = "http://127.0.0.1:8086"
    database: str = Field(default="repoclimate", min_length=1)
    retention_policy: str | None = None
    org: str | None = None
    token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    api_version: Literal["v1", "v2"] = "v2"
    timeout_s: float = Field(default=10.0, gt=0)
    create_database: bool = True
    gzip: bool = False
    rollup_retention_policy: str | None = Field(default=None, min_length=1)
    """InfluxDB: the retention policy the rollups (``climate_1h``, ``climate_1d``) are written
    to and read from, created with ``DURATION INF`` when absent (1.x; on 2.x map a bucket that
    keeps data forever to ``database/<policy>`` beforehand). ``None``: the raw readings'
    policy (``retention_policy``, else the database's default). Set it whenever the raw
    readings' policy has a finite duration, so rollups outlive the raw readings."""
    defer_rollups: bool = False
    """SQLite: writes only mark the rollup hours they touch, recomputed by the service's
    minute job and before every rollup read (`SQLiteStore`), instead of in every write."""
    raw_retention_days: int | None = Field(default=None, gt=0)
    """Days raw readings are kept (`repoclimate history prune`); ``None`` keeps them forever.
    Rollups (``climate_1h``, ``climate_1d``) are kept forever."""
