"""The monthly report e-mail: last month's PDF to the rota's managers through the outbox and a
real SMTP server (aiosmtpd), once per site and month, however often the job runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from repoclimate.alerts.clock import ManualClock
from repoclimate.alerts.notify.smtp import SmtpChannel, SmtpSettings
from repoclimate.alerts.outbox import OutboxWorker
from repoclimate.alerts.rota import Rota
from repoclimate.alerts.state import AlertStore
from repoclimate.reports.periods import parse_period
from repoclimate.reports.schedule import (
    JOB_ID,
    REPORT_KIND,
    claim,
    report_key,
    schedule_reports,
    send_monthly_reports,
)
from repoclimate.reports.settings import ReportSettings
from tests.alerts.conftest import SmtpServer
from tests.alerts.conftest import state_target as state_target
from tests.reports.conftest import NOW, Seeded

ROTA = """\
timezone: Asia/Shanghai
people:
  li:
    manager: [shanghai]
    language: zh-Hans
    contacts: [{email: li@example.org}, {webhook: "https://chat.example.org/x"}]
  kim:
    contacts: [{email: kim@example.org}]
shifts:
  - who: [kim]
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def test_last_months_pdf_goes_once_to_the_managers(
    seeded: Seeded, smtp: SmtpServer, tmp_path: Path
) -> None:
    rota_file = tmp_path / "rota.yaml"
    rota_file.write_text(ROTA)
    rota = Rota.load(rota_file)
    state_path = tmp_path / "state.sqlite"
    state = AlertStore(state_path)
    try:
        queued = send_monthly_reports(seeded.store, seeded.registry, state, rota, NOW)
        assert queued == [report_key("shanghai", parse_period("2026-11"))]
        # the job again, and after a restart: nothing more
        assert send_monthly_reports(seeded.store, seeded.registry, state, rota, NOW) == []
    finally:
        state.close()
    state = AlertStore(state_path)
    try:
        assert send_monthly_reports(seeded.store, seeded.registry, state, rota, NOW) == []
        rows = state.outbox()
        assert [(r.kind, r.person, r.channel, r.target) for r in rows] == [
            (REPORT_KIND, "li", "email", "li@example.org")
        ]
        channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=smtp.port))
        report = OutboxWorker(state, {"email": channel}).deliver_due(NOW)
        assert report.sent == 1, report.errors
    finally:
        state.close()
    (message,) = smtp.messages
    assert message["To"] == "li@example.org"
    assert "月度馆藏环境报告" in str(message["Subject"]) and "2026-11" in str(message["Subject"])
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "condition-report-shanghai-2026-11.pdf"
    assert attachment.get_content().startswith(b"%PDF")


def test_no_manager_no_report(seeded: Seeded, tmp_path: Path) -> None:
    state = AlertStore(tmp_path / "state.sqlite")
    try:
        nobody = Rota.model_validate({"people": {"kim": {"contacts": [{"email": "k@x.org"}]}}})
        assert send_monthly_reports(seeded.store, seeded.registry, state, nobody, NOW) == []
        assert state.outbox() == []
    finally:
        state.close()


def test_the_job_is_scheduled_only_with_the_alert_engine() -> None:
    scheduler = BackgroundScheduler(timezone=UTC)
    clock = ManualClock(datetime(2026, 12, 1, tzinfo=UTC))
    without = SimpleNamespace(store=None, registry=None, clock=clock, alerting=None)
    assert schedule_reports(scheduler, without) is None
    with_engine = SimpleNamespace(store=None, registry=None, clock=clock, alerting=object())
    assert schedule_reports(scheduler, with_engine) == JOB_ID
    job = scheduler.get_job(JOB_ID)
    assert job is not None and job.trigger.interval.total_seconds() == 3600


def test_the_report_key_is_claimed_once_on_either_database(state_target: str) -> None:
    key = report_key("shanghai", parse_period("2026-11"))
    first, second = AlertStore(state_target), AlertStore(state_target)
    try:
        with first.transaction() as tx:
            assert claim(tx.conn, key, NOW)
        with second.transaction() as tx:
            assert not claim(tx.conn, key, NOW)  # the primary key refuses it
            assert claim(tx.conn, report_key("shanghai", parse_period("2026-10")), NOW)
    finally:
        first.close()
        second.close()


def test_two_services_send_a_report_once(seeded: Seeded, state_target: str, tmp_path: Path) -> None:
    rota_file = tmp_path / "rota.yaml"
    rota_file.write_text(ROTA)
    rota = Rota.load(rota_file)
    services = [AlertStore(state_target), AlertStore(state_target)]
    results: list[list[str]] = []
    start = threading.Barrier(len(services))

    def run(state: AlertStore) -> None:
        start.wait()
        results.append(send_monthly_reports(seeded.store, seeded.registry, state, rota, NOW))

    try:
        threads = [threading.Thread(target=run, args=(state,)) for state in services]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(map(len, results)) == [0, 1]
        assert len(services[0].outbox()) == 1
        # a key claimed without an outbox row (a service that claimed it, then the outbox row
        # of another month): the claim alone stops a second send
        with services[0].transaction() as tx:
            claim(tx.conn, report_key("shanghai", parse_period("2026-12")), NOW)
        later = datetime(2027, 1, 1, 12, tzinfo=UTC)
        assert send_monthly_reports(seeded.store, seeded.registry, services[1], rota, later) == []
        assert len(services[1].outbox()) == 1
    finally:
        for state in services:
            state.close()


def test_the_pdf_engine_of_the_settings_is_used_and_a_failure_leaves_the_month_unclaimed(
    seeded: Seeded, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The job renders with the service's ``reports`` settings; when the engine fails, the
    reason is logged and nothing is claimed or queued, so the next hourly run tries again."""
    rota_file = tmp_path / "rota.yaml"
    rota_file.write_text(ROTA)
    rota = Rota.load(rota_file)
    browser = tmp_path / "failing-chromium"
    browser.write_text("#!/bin/sh\necho 'out of memory' >&2\nexit 3\n")
    browser.chmod(0o755)
    failing = ReportSettings(pdf_engine="chromium", chromium=browser)
    state = AlertStore(tmp_path / "state.sqlite")
    try:
        with caplog.at_level(logging.ERROR, logger="repoclimate.reports.schedule"):
            queued = send_monthly_reports(seeded.store, seeded.registry, state, rota, NOW, failing)
        assert queued == [] and state.outbox() == []
        assert "report:shanghai:2026-11 not rendered" in caplog.text
        assert f"Chromium ({browser}) failed with exit status 3: out of memory" in caplog.text
        with state.transaction() as tx:  # the month is still free to claim
            assert claim(tx.conn, report_key("shanghai", parse_period("2026-11")), NOW)
    finally:
        state.close()
