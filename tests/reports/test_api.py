"""``GET /api/reports`` on the API tests' world (a real app over real stores): viewers get the
report as PDF or HTML; anonymous callers, unknown sites and bad periods are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from repoclimate.app.users import Role
from repoclimate.reports.settings import ReportSettings
from tests.app.api.conftest import World, world  # noqa: F401 (the fixture)


def test_a_viewer_gets_the_html_report_of_a_room(world: World) -> None:  # noqa: F811
    answer = world.client(Role.VIEWER).get(
        "/api/reports",
        params={"period": "2026-05", "site": "city", "room": "stack-1", "format": "html"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert 'filename="report-city-stack-1-2026-05.html"' in answer.headers["content-disposition"]
    assert "Stack 1" in answer.text and "Key figures" in answer.text


def test_a_pdf_report_in_chinese(world: World) -> None:  # noqa: F811
    answer = world.client(Role.VIEWER).get(
        "/api/reports", params={"period": "2026-06", "site": "city", "lang": "zh-Hans"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")


def test_refusals(world: World) -> None:  # noqa: F811
    assert world.client().get("/api/reports", params={"period": "2026-05"}).status_code == 401
    viewer = world.client(Role.VIEWER)
    missing = viewer.get("/api/reports", params={"period": "2026-05", "site": "nowhere"})
    assert missing.status_code == 404 and "nowhere" in missing.json()["detail"]
    bad = viewer.get("/api/reports", params={"period": "2026-13", "site": "city"})
    assert bad.status_code == 422 and "month 13" in str(bad.json()["detail"])
    lonely = viewer.get("/api/reports", params={"period": "2026-05", "room": "stack-1"})
    assert lonely.status_code == 422


def test_the_pdf_engine_of_the_settings_is_used_and_its_failure_answers_503(
    world: World,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = tmp_path / "no-chromium"
    reports = ReportSettings(pdf_engine="chromium", chromium=missing)
    monkeypatch.setattr(world.services.settings, "reports", reports)
    viewer = world.client(Role.VIEWER)
    answer = viewer.get("/api/reports", params={"period": "2026-06", "site": "city"})
    assert answer.status_code == 503
    assert answer.json()["detail"] == f"reports.chromium: no browser at {missing}"
    html = viewer.get(
        "/api/reports", params={"period": "2026-06", "site": "city", "format": "html"}
    )
    assert html.status_code == 200  # HTML needs no PDF engine
