"""Delivery: one module per channel (e-mail, webhook, apprise, MQTT, console) behind one
interface, `Channel.send(target, message)`, which raises `DeliveryError` on failure.

The outbox worker (`alerts.outbox`) calls channels; nothing else does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered notification: e-mail subject, plain text, HTML, and a JSON payload for
    machines (webhook, MQTT). ``key`` is unique per outbox row (e-mail Message-ID)."""

    subject: str
    text: str
    html: str
    payload: dict[str, Any] = field(default_factory=dict)
    key: str = ""


class DeliveryError(RuntimeError):
    """A message could not be delivered. ``permanent`` means retrying cannot help (a refused
    address, a malformed URL); otherwise the outbox retries with backoff."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    """Sends a message to a target: an address, a URL or a topic."""

    kind: str

    def send(self, target: str, message: Message) -> None:
        """Deliver ``message`` or raise `DeliveryError`."""


def health_key(channel: str, target: str) -> str:
    """Which failing thing a delivery attempt tells about: the SMTP server or MQTT broker (one
    per channel), a webhook or apprise service host."""
    if channel in ("webhook", "apprise"):
        parts = urlsplit(target)
        host = parts.hostname or parts.netloc or "?"
        return f"{channel}:{parts.scheme}://{host}" if channel == "apprise" else f"webhook:{host}"
    return channel
