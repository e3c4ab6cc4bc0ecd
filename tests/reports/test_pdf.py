"""The PDF engines (`reports.pdf`): which one ``reports.pdf_engine`` picks, and how a browser
that is missing, fails, writes nothing or hangs is reported — with fake browsers (shell
scripts in the test's directory), so no real browser runs here except where named. The report
tests that read the PDFs back run on both engines (test_render.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from repoclimate.reports.pdf import (
    PdfError,
    chosen_engine,
    chromium_arguments,
    chromium_pdf,
    find_chromium,
    html_to_pdf,
)
from repoclimate.reports.settings import ReportSettings

HTML = "<!DOCTYPE html><html><body><p>secret report text</p></body></html>"


def fake_browser(folder: Path, name: str, body: str) -> Path:
    """An executable shell script standing in for the browser."""
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``PATH`` holding only an empty folder of the test's (no browser found)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_auto_takes_a_browser_on_path_in_the_documented_order(bare_path: Path) -> None:
    assert chosen_engine(ReportSettings()) == ("weasyprint", None)
    chrome = fake_browser(bare_path, "google-chrome", "exit 0")
    assert chosen_engine(ReportSettings()) == ("chromium", chrome)
    browser = fake_browser(bare_path, "chromium-browser", "exit 0")
    assert chosen_engine(ReportSettings(pdf_engine="auto")) == ("chromium", browser)
    assert chosen_engine(ReportSettings(pdf_engine="weasyprint")) == ("weasyprint", None)


def test_a_configured_browser_wins_over_path(bare_path: Path, tmp_path: Path) -> None:
    fake_browser(bare_path, "chromium", "exit 0")
    mine = fake_browser(tmp_path, "my-chrome", "exit 0")
    assert chosen_engine(ReportSettings(chromium=mine)) == ("chromium", mine)


def test_chromium_asked_for_but_none_found_is_an_error(bare_path: Path) -> None:
    with pytest.raises(PdfError, match=r"no browser was found.*set reports\.chromium"):
        chosen_engine(ReportSettings(pdf_engine="chromium"))


@pytest.mark.parametrize("engine", ["auto", "chromium"])
def test_a_configured_path_that_does_not_exist_is_an_error_not_a_fallback(
    tmp_path: Path, engine: str
) -> None:
    missing = tmp_path / "no" / "chromium"
    settings = ReportSettings.model_validate({"pdf_engine": engine, "chromium": str(missing)})
    with pytest.raises(PdfError, match=re.escape(f"reports.chromium: no browser at {missing}")):
        html_to_pdf(HTML, settings)
    not_executable = tmp_path / "chromium"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(PdfError, match="is not executable"):
        find_chromium(ReportSettings(chromium=not_executable))


def test_a_failing_browser_is_named_with_its_status_and_what_it_said(tmp_path: Path) -> None:
    browser = fake_browser(
        tmp_path,
        "broken-chromium",
        "echo '[1:1:ERROR:dbus/bus.cc:405] Failed to connect to the bus' >&2\n"
        "echo 'cannot open shared object libnss3.so' >&2\nexit 3",
    )
    with pytest.raises(PdfError) as caught:
        chromium_pdf(HTML, browser, timeout_s=30)
    message = str(caught.value)
    assert f"Chromium ({browser}) failed with exit status 3" in message
    assert "cannot open shared object libnss3.so" in message
    assert "dbus" not in message  # the missing desktop bus is noise, not the reason
    assert "secret report text" not in message


def test_a_browser_that_writes_no_pdf_is_an_error(tmp_path: Path) -> None:
    browser = fake_browser(tmp_path, "quiet-chromium", "exit 0")
    with pytest.raises(PdfError, match=r"quiet-chromium\) exited 0 but wrote no PDF"):
        chromium_pdf(HTML, browser, timeout_s=30)


def test_a_hanging_browser_is_killed_at_the_timeout(tmp_path: Path) -> None:
    """The browser and its children (one process group) are killed; the error says so."""
    child_pid = tmp_path / "child.pid"
    browser = fake_browser(tmp_path, "hanging-chromium", f"sleep 60 &\necho $! > {child_pid}\nwait")
    started = time.monotonic()
    with pytest.raises(PdfError, match=r"did not finish within 0.5 s; killed its process group"):
        chromium_pdf(HTML, browser, timeout_s=0.5)
    assert time.monotonic() - started < 10
    pid = int(child_pid.read_text())
    assert not _running(pid), f"the browser's child {pid} outlived the kill"


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_the_browser_runs_private_offline_and_without_a_sandbox_only_as_root(
    tmp_path: Path,
) -> None:
    page, out = tmp_path / "report.html", tmp_path / "report.pdf"
    arguments = chromium_arguments(Path("/usr/bin/chromium"), tmp_path / "profile", page, out)
    assert arguments[0] == "/usr/bin/chromium" and arguments[-1] == page.as_uri()
    for flag in (
        "--headless",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-crash-reporter",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--print-to-pdf={out}",
    ):
        assert flag in arguments, flag
    assert ("--no-sandbox" in arguments) == (os.geteuid() == 0)


@pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("pdftotext") is None,
    reason="chromium or poppler-utils missing (scripts/setup-system.sh)",
)
def test_the_real_browser_prints_a_page_and_runs_no_script(tmp_path: Path) -> None:
    """Scripts are off by the page's Content-Security-Policy (the report template's)."""
    html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'style-src \'unsafe-inline\'; img-src data:"></head><body><p id="p">static</p>'
        '<script>document.getElementById("p").textContent = "script ran";</script>'
        "</body></html>"
    )
    settings = ReportSettings(pdf_engine="chromium", chromium_timeout_s=120)
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(html_to_pdf(html, settings))
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "static" in text and "script ran" not in text


def test_the_reports_section_of_the_service_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative ``reports.chromium`` is the config file's neighbour; the environment sets the
    engine; a misspelt engine is refused at load, naming the key."""
    from repoclimate.app.settings import SettingsError, load_settings

    for name in list(os.environ):
        if name.startswith("REPOCLIMATE_"):
            monkeypatch.delenv(name)
    config = tmp_path / "config.yaml"
    config.write_text("reports:\n  chromium: bin/chrome\n  chromium_timeout_s: 60\n")
    monkeypatch.setenv("REPOCLIMATE_REPORTS__PDF_ENGINE", "chromium")
    reports = load_settings(config).reports
    assert reports == ReportSettings(
        pdf_engine="chromium", chromium=tmp_path / "bin" / "chrome", chromium_timeout_s=60
    )
    monkeypatch.setenv("REPOCLIMATE_REPORTS__PDF_ENGINE", "chrome")
    with pytest.raises(SettingsError, match=r"reports\.pdf_engine"):
        load_settings(config)
