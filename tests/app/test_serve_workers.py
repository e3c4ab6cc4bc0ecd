"""``api.workers: 2``: ``serve`` runs a second API process on the same port (SO_REUSEPORT), both
listen and answer, a replica that dies is started again, and SIGTERM stops them all."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from repoclimate.app.serve import ServeError, reuse_port_socket
from tests.app.test_serve import Serve, write_config
from tests.ingest.helpers import wait_until
from tests.servers import Mosquitto, free_port


def _listeners(pid: int, port: int) -> bool:
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr.port == port
        for c in psutil.Process(pid).net_connections(kind="tcp")
    )


def _replicas(pid: int) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(pid).children()
        if "--replica" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE
    ]


def test_two_api_workers_share_the_port_and_a_dead_one_comes_back(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config, url = write_config(tmp_path, mosquitto, "workers")
    settings = yaml.safe_load(config.read_text())
    settings["api"]["workers"] = 2
    config.write_text(yaml.safe_dump(settings))
    port = int(url.rsplit(":", 1)[1])
    serve = Serve(config, "--only", "api")
    try:
        serve.wait_http(url)
        wait_until(lambda: len(_replicas(serve.proc.pid)) == 1, 30, "one replica")
        (replica,) = _replicas(serve.proc.pid)
        wait_until(lambda: _listeners(replica.pid, port), 30, "the replica listening")
        assert _listeners(serve.proc.pid, port)
        for _ in range(20):  # a new connection each: whichever process the kernel picks answers
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200

        replica.kill()
        replica.wait(10)

        def replaced() -> bool:
            alive = _replicas(serve.proc.pid)
            return len(alive) == 1 and alive[0].pid != replica.pid

        wait_until(replaced, 30, "the replica started again")
        assert "API replica 0" in serve.output and "starting it again" in serve.output
        (second,) = _replicas(serve.proc.pid)
        assert serve.terminate(sig=signal.SIGTERM) == 0, serve.output
        assert not psutil.pid_exists(second.pid) or second.status() == psutil.STATUS_ZOMBIE
    finally:
        for child in psutil.Process(serve.proc.pid).children() if serve.proc.poll() is None else []:
            child.kill()
        serve.kill()
    assert "Traceback" not in serve.output


def test_a_taken_port_is_named() -> None:
    port = free_port()
    with reuse_port_socket("127.0.0.1", port) as first:
        first.listen()
        with socket.socket() as plain:  # a process that did not ask for SO_REUSEPORT
            plain.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError):
                plain.bind(("127.0.0.1", port))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(ServeError, match=f"cannot listen on 127.0.0.1:{port}"):
            reuse_port_socket("127.0.0.1", port)
