"""The fixtures start real servers that answer."""

from __future__ import annotations

import subprocess

from tests.servers import InfluxDB, Mosquitto


def test_mosquitto_delivers_a_message(mosquitto: Mosquitto) -> None:
    sub = subprocess.Popen(
        ["mosquitto_sub", "-p", str(mosquitto.port), "-h", "127.0.0.1", "-t", "fixture/t", "-C", "1"],
        stdout=subprocess.PIPE,
    )
    import time

    time.sleep(0.3)
    subprocess.run(
        ["mosquitto_pub", "-p", str(mosquitto.port), "-h", "127.0.0.1", "-t", "fixture/t", "-m", "hi"],
        check=True,
    )
    out, _ = sub.communicate(timeout=10)
    assert out.strip() == b"hi"


def test_influxdb_answers_queries(influxdb: InfluxDB, influx_db_name: str) -> None:
    result = influxdb.query("SHOW DATABASES")
    assert influx_db_name in str(result)
