"""The report's PDF engines: the report's HTML (`reports.render.render_html`) printed by a
headless Chromium, or laid out by WeasyPrint in this process; `ReportSettings.pdf_engine`
chooses (`chosen_engine`).

Chromium (Debian's ``chromium``; ``scripts/setup-system.sh`` installs it for the pages' tests)
runs as a subprocess, no Python dependency: the HTML is written into a private temporary
directory (mode 0700, with the browser's profile, ``--user-data-dir``) and printed with
``--print-to-pdf``. Nothing external is loaded: the report has no sub-resources, its
Content-Security-Policy (the template's ``<meta>``) forbids scripts and every fetch, host
names do not resolve (``--host-resolver-rules``), and the flags below stop the browser's own
background networking, first-run work, extensions, component updates and crash reporting.
JavaScript is off by that policy: ``--blink-settings=scriptEnabled=false`` makes Chromium 156
exit 0 without writing the PDF. ``--no-sandbox`` only when running as root (Chromium refuses
to start as root with its sandbox). The browser runs in its own process group; after
``chromium_timeout_s`` that group (its id is the browser's PID) is killed. A failure is a
`PdfError` naming the browser, its exit status and the tail of its standard error, never the
report's text.

Chromium writes an untagged PDF (``--disable-pdf-tagging``: a tagged one was twice the size
and ≈ 1 s slower on a year report; WeasyPrint's is untagged too). Chromium's PDF backend (Skia)
embeds CFF fonts (Noto Sans CJK) as Type 3 fonts: the glyphs are Noto's and the text layer is
there (their FontDescriptor names the font), but ``pdffonts`` lists them as ``[none]``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

from repoclimate.reports.settings import ReportSettings

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
"""Looked up on ``PATH``, in this order, when ``reports.chromium`` is not set."""
STDERR_TAIL_LINES = 8
KILL_GRACE_S = 5.0
"""How long to wait for the killed browser's pipes to close."""
_NOISE = re.compile(r":ERROR:dbus/")
"""Chromium's complaints about a missing D-Bus (no desktop session): not why it failed."""

Engine = Literal["chromium", "weasyprint"]


class PdfError(RuntimeError):
    """The report's PDF could not be made: no browser where the settings say, or the browser
    failed, hung, or wrote no PDF."""


def find_chromium(settings: ReportSettings) -> Path | None:
    """The browser to print with: ``reports.chromium`` (which must exist), else the first of
    `BROWSER_NAMES` on ``PATH``, else None."""
    configured = settings.chromium
    if configured is not None:
        if not configured.is_file():
            raise PdfError(f"reports.chromium: no browser at {configured}")
        if not os.access(configured, os.X_OK):
            raise PdfError(f"reports.chromium: {configured} is not executable")
        return configured
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found is not None:
            return Path(found)
    return None


def chosen_engine(settings: ReportSettings) -> tuple[Engine, Path | None]:
    """The engine ``reports.pdf_engine`` means here, and the browser for ``chromium``."""
    if settings.pdf_engine == "weasyprint":
        return "weasyprint", None
    browser = find_chromium(settings)
    if browser is not None:
        return "chromium", browser
    if settings.pdf_engine == "chromium":
        names = ", ".join(BROWSER_NAMES)
        raise PdfError(
            f"reports.pdf_engine is chromium but no browser was found ({names} on PATH): "
            "set reports.chromium or install chromium"
        )
    return "weasyprint", None


def html_to_pdf(html: str, settings: ReportSettings | None = None) -> bytes:
    """The report's HTML document as PDF bytes, by the engine the settings choose."""
    settings = settings or ReportSettings()
    engine, browser = chosen_engine(settings)
    if engine == "chromium" and browser is not None:
        return chromium_pdf(html, browser, settings.chromium_timeout_s)
    return weasyprint_pdf(html)


def weasyprint_pdf(html: str) -> bytes:
    """The HTML document laid out by WeasyPrint (base URL: the reports package)."""
    from importlib.resources import files

    from weasyprint import HTML

    pdf = HTML(string=html, base_url=str(files("repoclimate.reports"))).write_pdf()
    if not isinstance(pdf, bytes):
        raise PdfError("WeasyPrint returned no PDF")
    return pdf


def chromium_arguments(browser: Path, profile: Path, page: Path, out: Path) -> list[str]:
    """The command line that prints ``page`` to ``out`` (see the module doc)."""
    arguments = [
        str(browser),
        "--headless",
        "--disable-gpu",
        "--disable-dev-shm-usage",  # a container's /dev/shm (64 MB) is too small for it
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-component-extensions-with-background-pages",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--metrics-recording-only",
        "--no-pings",
        "--disable-breakpad",
        "--disable-crash-reporter",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--no-pdf-header-footer",
        "--disable-pdf-tagging",
        f"--print-to-pdf={out}",
        page.as_uri(),
    ]
    if os.geteuid() == 0:
        arguments.insert(1, "--no-sandbox")
    return arguments


def chromium_pdf(html: str, browser: Path, timeout_s: float) -> bytes:
    """The HTML document printed by the headless browser at ``browser``; `PdfError` when it
    cannot start, exits non-zero, writes no PDF, or runs past ``timeout_s`` (then its process
    group is killed)."""
    with tempfile.TemporaryDirectory(prefix="repoclimate-report-") as tmp:
        folder = Path(tmp)
        page, out = folder / "report.html", folder / "report.pdf"
        page.write_text(html, encoding="utf-8")
        arguments = chromium_arguments(browser, folder / "profile", page, out)
        try:
            process = subprocess.Popen(
                arguments,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=folder,
                start_new_session=True,
            )
        except OSError as exc:
            raise PdfError(f"Chromium ({browser}) could not start: {exc.strerror}") from None
        try:
            _, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            group = process.pid
            _kill_group(process)
            raise PdfError(
                f"Chromium ({browser}) did not finish within {timeout_s:g} s; "
                f"killed its process group {group}"
            ) from None
        tail = _tail(err)
        if process.returncode != 0:
            status = process.returncode
            raise PdfError(f"Chromium ({browser}) failed with exit status {status}{tail}")
        pdf = out.read_bytes() if out.is_file() else b""
        if not pdf.startswith(b"%PDF-"):
            raise PdfError(f"Chromium ({browser}) exited 0 but wrote no PDF{tail}")
        return pdf


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the browser's process group (still ours: its leader is not reaped yet) and
    collect it."""
    with contextlib.suppress(ProcessLookupError):  # it ended between the timeout and the kill
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:  # a process outside the group holds the pipes open
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()


def _tail(stderr: bytes) -> str:
    """``: `` and the last lines of the browser's standard error (D-Bus noise left out), or
    nothing when it said nothing."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    said = [line[:300] for line in lines if line and not _NOISE.search(line)]
    if not said:
        return ""
    return ": " + " | ".join(said[-STDERR_TAIL_LINES:])
