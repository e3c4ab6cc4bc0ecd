"""An MQTT broker inside the process, for `repoclimate demo`: amqtt on a loopback port.

amqtt speaks MQTT 3.1.1 only (no MQTT 5, no ``$share``), gives anonymous clients no offline
queueing, and carries about 2 000 messages a second — enough for a demo, not for a site.
Production uses Mosquitto (see the README).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from concurrent.futures import Future
from typing import Any

from amqtt.broker import Broker
from amqtt.errors import BrokerError

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


class BrokerStartError(RuntimeError):
    """The embedded broker could not start (most often: the port is taken)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedBroker:
    """amqtt running on its own event loop in a background thread.

    ``start()`` returns once the broker listens on ``host:port``; ``stop()`` closes every
    session, the listener and the loop, and joins the thread.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="embedded-broker", daemon=True
        )
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        """Listen on ``host:port``; raises `BrokerStartError` (and leaves no thread behind)."""
        self._thread.start()
        try:
            self._call(self._start(), _START_TIMEOUT_S)
        except (BrokerError, OSError, TimeoutError) as exc:
            self.stop()
            raise BrokerStartError(
                f"cannot start the embedded MQTT broker on {self.url}: {exc}"
            ) from exc
        logger.info("embedded MQTT broker listening on %s", self.url)

    def stop(self) -> None:
        if self._broker is not None:
            try:
                self._call(self._broker.shutdown(), _STOP_TIMEOUT_S)
            finally:
                self._broker = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_STOP_TIMEOUT_S)
        if not self._loop.is_running():
            self._loop.close()

    def wait_for_subscriber(self, client_id: str, timeout: float) -> bool:
        """Wait until ``client_id`` holds a subscription; False if it does not within ``timeout``.

        amqtt drops messages that arrive before a subscriber has subscribed, so publishers wait.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            future = asyncio.run_coroutine_threadsafe(self._subscribers(), self._loop)
            if client_id in future.result(timeout):
                return True
            time.sleep(0.05)
        return False

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _start(self) -> None:
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        broker = Broker(config)
        await broker.start()
        self._broker = broker

    async def _subscribers(self) -> set[str]:
        if self._broker is None:
            return set()
        return {
            session.client_id
            for subscribers in self._broker.subscriptions.values()
            for session, _qos in subscribers
        }

    def _call(self, coroutine: Any, timeout: float) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        future.result(timeout)
