"""A collector child process for the fault tests, wired exactly as ``repoclimate collect`` is.

    python -m tests.ingest.collector_process --config FILE [--kill-after-writes N] [--stats FILE]

``--kill-after-writes N`` wraps the store (here, in the test harness only) so that the process
SIGKILLs itself right after the Nth successful store write returns — after the readings are in
the store and before the collector acknowledges the messages behind them, the window in which a
redelivery must not become a second point. ``--stats`` writes the collector's counters as JSON
when it stops normally (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from repoclimate.app.settings import load_settings
from repoclimate.app.wiring import collector_from, registry_from
from repoclimate.history import open_store
from repoclimate.history.store import Store
from repoclimate.sensors.reading import Reading

logger = logging.getLogger("tests.collector_process")


class KillAfterWrites:
    """A store that kills its own process right after its ``limit``-th successful write."""

    def __init__(self, inner: Store, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.writes = 0

    def write(self, readings: Sequence[Reading]) -> None:
        self.inner.write(readings)
        self.writes += 1
        if self.writes >= self.limit:
            logger.warning("store write %d done: SIGKILL before the acknowledgements", self.writes)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the collector until SIGTERM (or until the store wrapper kills the process)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--kill-after-writes", type=int, default=0)
    parser.add_argument("--stats", type=Path)
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    store = open_store(settings.store)
    target: Store = store
    if args.kill_after_writes:
        target = KillAfterWrites(store, args.kill_after_writes)  # type: ignore[assignment]
    collector = collector_from(
        settings.mqtt, settings.collector, registry_from(settings.registry), target
    )
    try:
        collector.run()
    finally:
        store.close()
    if args.stats is not None:
        args.stats.write_text(json.dumps(asdict(collector.stats.snapshot())))


if __name__ == "__main__":
    main()
