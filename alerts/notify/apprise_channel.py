"""Any apprise URL: chat services, SMS gateways, ntfy, mailto… (apprise 2.x)."""

from __future__ import annotations

import logging

import apprise

from repoclimate.alerts.notify import DeliveryError, Message

_TYPES = {
    "critical": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "resolved": apprise.NotifyType.SUCCESS,
}


class AppriseChannel:
    """Sends the plain-text message through apprise to one URL."""

    kind = "apprise"

    def __init__(self, timeout_s: float = 15.0) -> None:
        self.timeout_s = timeout_s

    def send(self, target: str, message: Message) -> None:
        client = apprise.Apprise()
        if not client.add(target):
            raise DeliveryError("apprise cannot use this URL (unknown scheme or bad form)", True)
        status = str(message.payload.get("status", ""))
        severity = str(message.payload.get("severity", ""))
        notify_type = _TYPES.get(status) or _TYPES.get(severity) or apprise.NotifyType.INFO
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            ok = client.notify(
                body=message.text,
                title=message.subject,
                notify_type=notify_type,
                body_format=apprise.NotifyFormat.TEXT,
            )
            log_text = captured.getvalue().strip() if hasattr(captured, "getvalue") else ""
        if not ok:
            scheme = target.split("://", 1)[0]
            detail = log_text.splitlines()[-1] if log_text else "no detail"
            raise DeliveryError(f"apprise {scheme}:// delivery failed: {detail}")
