"""``repoclimate report`` through the real CLI: a config file, the seeded store and state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repoclimate.app.cli import app
from tests.reports.conftest import Seeded


@pytest.fixture
def config(seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("REPOCLIMATE_"):
            monkeypatch.delenv(name)
    path = tmp_path / "config.yaml"
    path.write_text(
        f"registry: {seeded.registry_file}\n"
        f"store: {{kind: sqlite, sqlite_path: {seeded.store_path}}}\n"
        f"alerts: {{state_path: {seeded.state_path}}}\n"
    )
    return path


def test_report_command_writes_the_html_report(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "november.html"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--config",
            str(config),
            "--site",
            "shanghai",
            "--room",
            "stack-a",
            "--period",
            "2026-11",
            "--format",
            "html",
            "--lang",
            "zh-Hans",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Stack A" in html and "告警记录" in html and "Mould risk rising in Stack A" in html
    assert "Film vault" not in html  # one room only


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--site", "shanghai", "--period", "2026-13"], "month 13"),
        (["--site", "nowhere", "--period", "2026-11"], "no site 'nowhere'"),
        (["--room", "stack-a", "--period", "2026-11"], "--room needs --site"),
        (["--site", "shanghai", "--period", "2026-11", "--lang", "fr"], "no report language"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    config: Path, tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = CliRunner().invoke(
        app, ["report", "--config", str(config), "--out", str(tmp_path / "x"), *arguments]
    )
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "x").exists()


def test_the_pdf_engine_of_the_settings_is_used_and_its_failure_exits_1(
    config: Path, tmp_path: Path
) -> None:
    """``reports.chromium`` pointing at a browser that fails: the CLI prints the engine's
    reason and writes nothing."""
    browser = tmp_path / "failing-chromium"
    browser.write_text("#!/bin/sh\necho 'no display here' >&2\nexit 3\n")
    browser.chmod(0o755)
    with config.open("a") as file:
        file.write(f"reports: {{pdf_engine: chromium, chromium: {browser}}}\n")
    out = tmp_path / "november.pdf"
    result = CliRunner().invoke(
        app,
        [
            *("report", "--config", str(config), "--site", "shanghai", "--room", "stack-a"),
            *("--period", "2026-11", "--out", str(out)),
        ],
    )
    assert result.exit_code == 1, result.output
    assert f"Chromium ({browser}) failed with exit status 3: no display here" in result.output
    assert not out.exists()
