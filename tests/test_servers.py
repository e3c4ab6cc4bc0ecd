"""The fixtures start real servers that answer."""

from __future__ import annotations

import subprocess
import time

from tests.servers import InfluxDB, Mosquitto


def test_mosquitto_delivers_a_message(mosquitto: Mosquitto) -> None:
    where = ["-h", "127.0.0.1", "-p", str(mosquitto.port), "-t", "fixture/t"]
    sub = subprocess.Popen(["mosquitto_sub", *where, "-C", "1"], stdout=subprocess.PIPE)
    time.sleep(0.3)
    subprocess.run(["mosquitto_pub", *where, "-m", "hi"], check=True)
    out, _ = sub.communicate(timeout=10)
    assert out.strip() == b"hi"


def test_influxdb_answers_queries(influxdb: InfluxDB, influx_db_name: str) -> None:
    result = influxdb.query("SHOW DATABASES")
    assert influx_db_name in str(result)
