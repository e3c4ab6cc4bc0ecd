"""The durable spool: order, durability across reopen and SIGKILL, draining, exclusivity."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.ingest.spool import Spool, SpoolError, decode_readings, encode_readings, spool_path
from repoclimate.sensors.reading import Reading

T0 = datetime(2026, 11, 20, 3, 15, tzinfo=UTC)


def readings(start: int, count: int) -> list[Reading]:
    return [
        Reading(
            f"s{i % 7}",
            T0 + timedelta(seconds=i, microseconds=i),
            temperature=18 + i / 1000,
            humidity=50.5,
            battery=None if i % 2 else 97.0,
            site="city-archives",
            room="stack-3",
        )
        for i in range(start, start + count)
    ]


def test_encoding_round_trips_every_field_and_microsecond() -> None:
    original = [
        *readings(0, 5),
        Reading("bare", T0, humidity=0.0),
        Reading("lq", T0, temperature=-60.0, linkquality=120.0, site="x", room="y"),
    ]
    assert decode_readings(encode_readings(original)) == original


def test_batches_come_back_in_the_order_they_were_spooled(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.sqlite") as spool:
        for start in range(0, 50, 10):
            spool.append(readings(start, 10))
        assert len(spool) == 50
        drained: list[Reading] = []
        while len(spool):
            chunk = spool.peek(max_readings=15)
            assert len(chunk.readings) <= 15
            drained.extend(chunk.readings)
            spool.remove(chunk)
        assert drained == readings(0, 50)


def test_peek_returns_at_least_one_batch_even_when_larger_than_the_limit(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.sqlite") as spool:
        spool.append(readings(0, 30))
        spool.append(readings(30, 5))
        chunk = spool.peek(max_readings=10)
        assert chunk.readings == readings(0, 30)
        assert len(chunk.ids) == 1


def test_unremoved_batches_survive_reopening_and_new_ones_go_behind(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    with Spool(path) as spool:
        spool.append(readings(0, 10))
        spool.append(readings(10, 10))
        spool.remove(spool.peek(10))  # the first batch reached the store
    with Spool(path) as spool:
        assert len(spool) == 10
        spool.append(readings(20, 10))
        chunk = spool.peek(100)
        assert chunk.readings == readings(10, 20)
        spool.remove(chunk)
        assert len(spool) == 0
    with Spool(path) as spool:
        assert len(spool) == 0
        assert spool.peek(10).readings == []


def test_an_appended_batch_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from tests.ingest.test_spool import readings
        from repoclimate.ingest.spool import Spool
        spool = Spool(__import__("pathlib").Path({str(path)!r}))
        spool.append(readings(0, 100))
        spool.append(readings(100, 100))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert result.returncode == -9
    with Spool(path) as spool:  # the lock died with the process
        assert len(spool) == 200
        assert spool.peek(1000).readings == readings(0, 200)


def test_a_second_process_cannot_share_a_spool(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    with Spool(path):
        script = (
            "import sys, pathlib\n"
            f"sys.path.insert(0, {str(Path(__file__).parents[2])!r})\n"
            "from ingest.spool import Spool, SpoolError\n"
            f"try:\n    Spool(pathlib.Path({str(path)!r}))\nexcept SpoolError:\n    sys.exit(3)\n"
        )
        result = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
        assert result.returncode == 3
    with pytest.raises(SpoolError, match="in use"), Spool(path), Spool(path):
        pass


def test_spool_file_is_named_after_a_sanitised_client_id(tmp_path: Path) -> None:
    assert (
        spool_path(tmp_path, "repoclimate-collector") == tmp_path / "repoclimate-collector.sqlite"
    )
    assert spool_path(tmp_path, "a/b c").name == "a_b_c.sqlite"


def test_a_file_that_is_not_a_spool_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SpoolError, match="cannot open"):
        Spool(path)


def test_an_unusable_spool_directory_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolError, match="cannot create the spool"):
        Spool(blocker / "spool.sqlite")
