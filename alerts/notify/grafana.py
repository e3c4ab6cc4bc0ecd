"""Alert events as Grafana annotations, through grafana-api: an alert that fires posts an
annotation (a point at the time it started); when it resolves the annotation gets its end time and
becomes a region. The target is Grafana's base URL (``http://grafana:3000``).

Tags: ``repoclimate``, ``alert:<id>``, ``site:<site>``, ``room:<room>``, ``rule:<rule>``,
``severity:<level>``, and ``open`` while the alert is open (the Repository overview lists the
annotations tagged ``repoclimate`` + ``open``; the Room dashboard shows ``room:$room``).

Delivery is idempotent, as the outbox retries: before posting, the channel looks the alert's
annotation up by its ``alert:<id>`` tag, so a retried "firing" posts nothing twice and a
"resolved" closes the one annotation it finds. The token is read from ``GRAFANA_TOKEN_FILE`` (a
file) or ``GRAFANA_TOKEN`` and sent only as an ``Authorization`` header.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from grafana_api.grafana_api import GrafanaClientError, GrafanaException, GrafanaServerError
from grafana_api.grafana_face import GrafanaFace
from requests import RequestException

from repoclimate.alerts.notify import DeliveryError, Message

ANNOTATION_TAG = "repoclimate"
OPEN_TAG = "open"
"""The tags every annotation of ours carries (the Room dashboard's alert annotations filter on
``repoclimate``, spelt the same in `repoclimate.dashboards.build`: the alert engine does not
import the dashboards); ``open`` marks a region not yet closed, so a retried resolve finds it."""

TOKEN_ENV_VAR = "GRAFANA_TOKEN"
TOKEN_FILE_ENV_VAR = "GRAFANA_TOKEN_FILE"

_OPENING = ("firing", "update", "escalation", "reminder", "acknowledged")


def _epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def alert_tags(item: Mapping[str, Any], *, open_: bool) -> list[str]:
    """The tags of one alert's annotation."""
    tags = [
        ANNOTATION_TAG,
        f"alert:{item['id']}",
        f"site:{item['site']}",
        f"room:{item['room']}",
        f"rule:{item['rule']}",
        f"severity:{item['severity']}",
    ]
    if item.get("sensor"):
        tags.append(f"sensor:{item['sensor']}")
    return [*tags, OPEN_TAG] if open_ else tags


def _client(target: str, token: str, timeout_s: float) -> GrafanaFace:
    parts = urllib.parse.urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected Grafana's base URL, http(s)://host[:port][/path]")
    if parts.username or parts.password or parts.query:
        raise ValueError("credentials and query strings do not belong in the URL")
    prefix = parts.path.strip("/")
    return GrafanaFace(
        token,
        host=parts.hostname,
        port=parts.port,
        url_path_prefix=f"{prefix}/" if prefix else "",
        protocol=parts.scheme,
        timeout=timeout_s,
    )


class GrafanaChannel:
    """Posts an annotation per alert that fires, closes its region when the alert resolves."""

    kind = "grafana"

    def __init__(
        self, token: str | None = None, token_file: Path | None = None, timeout_s: float = 10.0
    ) -> None:
        self._token = token
        self.token_file = token_file
        self.timeout_s = timeout_s

    @classmethod
    def from_environment(cls, timeout_s: float = 10.0) -> GrafanaChannel:
        """The channel with the token of ``GRAFANA_TOKEN_FILE`` (read at each delivery, so it
        can be rotated) or ``GRAFANA_TOKEN``; with neither, deliveries fail permanently."""
        path = os.environ.get(TOKEN_FILE_ENV_VAR)
        return cls(
            os.environ.get(TOKEN_ENV_VAR) or None,
            Path(path) if path else None,
            timeout_s,
        )

    def _current_token(self, target: str) -> str:
        if self.token_file is not None:
            try:
                token = self.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise DeliveryError(
                    f"grafana {target}: token file {self.token_file}: {exc.strerror}"
                ) from exc
            if token:
                return token
        if self._token is None:
            raise DeliveryError(
                f"grafana {target}: no token ({TOKEN_ENV_VAR} or {TOKEN_FILE_ENV_VAR})",
                permanent=True,
            )
        return self._token

    def send(self, target: str, message: Message) -> None:
        kind = message.payload.get("kind")
        if kind not in (*_OPENING, "resolved"):
            return  # digests are not events on a time line
        try:
            api = _client(target, self._current_token(target), self.timeout_s)
        except ValueError as exc:
            raise DeliveryError(f"grafana {target}: {exc}", permanent=True) from exc
        try:
            for item in message.payload.get("alerts", []):
                if kind == "resolved":
                    self._close(api, item, _epoch_ms(str(message.payload["time"])))
                else:
                    self._open(api, item, message.text)
        except GrafanaServerError as exc:
            raise DeliveryError(f"grafana {target}: HTTP {exc.status_code}") from exc
        except GrafanaClientError as exc:
            transient = exc.status_code in (408, 429)
            raise DeliveryError(
                f"grafana {target}: HTTP {exc.status_code} {exc.message}", permanent=not transient
            ) from exc
        except GrafanaException as exc:
            raise DeliveryError(f"grafana {target}: {exc.message}") from exc
        except RequestException as exc:
            raise DeliveryError(f"grafana {target}: {type(exc).__name__}") from exc

    @staticmethod
    def _find(api: Any, item: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = api.annotations.get_annotation(tags=[ANNOTATION_TAG, f"alert:{item['id']}"])
        return [a for a in found if isinstance(a, dict)]

    def _open(self, api: Any, item: Mapping[str, Any], text: str) -> None:
        if self._find(api, item):
            return
        api.annotations.add_annotation(
            time_from=_epoch_ms(str(item["since"])),
            tags=alert_tags(item, open_=True),
            text=f"{item['title']}: {item['summary']}" if item.get("summary") else text,
        )

    def _close(self, api: Any, item: Mapping[str, Any], end_ms: int) -> None:
        for annotation in self._find(api, item):
            if OPEN_TAG not in (annotation.get("tags") or []):
                continue  # closed already (a retried "resolved")
            api.annotations.partial_update_annotation(
                annotation["id"],
                time_to=end_ms,
                tags=alert_tags(item, open_=False),
            )
