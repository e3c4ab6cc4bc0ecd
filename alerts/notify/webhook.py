"""Generic JSON webhook: POST the message payload to a URL."""

from __future__ import annotations

import httpx

from repoclimate.alerts.notify import DeliveryError, Message


class WebhookChannel:
    """POSTs ``message.payload`` as JSON; 2xx is success, 408/429/5xx are retried, other 4xx
    are permanent."""

    kind = "webhook"

    def __init__(self, timeout_s: float = 10.0, headers: dict[str, str] | None = None) -> None:
        self.timeout_s = timeout_s
        self.headers = {"User-Agent": "repoclimate-alerts", **(headers or {})}

    def send(self, target: str, message: Message) -> None:
        headers = dict(self.headers)
        if message.key:
            headers["Idempotency-Key"] = message.key
        try:
            response = httpx.post(
                target, json=message.payload, headers=headers, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {target}: {exc!r}") from exc
        if 200 <= response.status_code < 300:
            return
        transient = response.status_code in (408, 425, 429) or response.status_code >= 500
        raise DeliveryError(
            f"webhook {target}: HTTP {response.status_code}", permanent=not transient
        )
