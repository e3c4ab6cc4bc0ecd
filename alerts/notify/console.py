"""Console channel: prints notifications (the laptop demo) or logs undeliverable ones."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from repoclimate.alerts.notify import Message

log = logging.getLogger(__name__)


class ConsoleChannel:
    """Writes the plain-text message to a stream (standard output by default)."""

    kind = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, target: str, message: Message) -> None:
        stream = self.stream or sys.stdout
        stream.write(f"=== {message.subject}\n{message.text}\n")
        stream.flush()


class LogChannel:
    """Records a notification nobody could be found to receive, at error level."""

    kind = "log"

    def send(self, target: str, message: Message) -> None:
        log.error("undeliverable (nobody on duty, no broadcast): %s", message.subject)
