"""``POST /api/import`` through the real app: the CLI's import over HTTP — the summary, joins,
idempotency, dry runs, a bad file storing nothing (422 naming file and row), the size limit,
roles and CSRF for cookie sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from repoclimate.app.users import Role
from tests.app.api.conftest import World

SAMPLES = Path(__file__).parents[2] / "sensors" / "loggers" / "samples"
FIRST = datetime(2019, 10, 10, 16, 0, tzinfo=UTC)  # 11:00 at GMT-05:00, the file's own offset
END = datetime(2019, 10, 11, tzinfo=UTC)


def upload(name: str, text: str | None = None) -> tuple[str, tuple[str, bytes, str]]:
    data = (SAMPLES / name).read_bytes() if text is None else text.encode()
    return ("files", (name, data, "text/csv"))


def post(world: World, role: Role | None, files: list[Any], **form: Any) -> Any:
    return world.client(role).post("/api/import", files=files, data={"sensor": "s1", **form})


def stored(world: World) -> list[datetime]:
    return [r.time for r in world.services.store.history("s1", FIRST, END)]


def test_an_admin_imports_a_hobo_file_and_gets_the_summary(world: World) -> None:
    answer = post(world, Role.ADMIN, [upload("hobo_hoboware.csv")])
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["files"] == ["hobo_hoboware.csv"]  # the uploaded name, not a temporary path
    assert summary["formats"] == ["hobo"]
    assert (summary["readings"], summary["stored"], summary["unchanged"]) == (7, 7, 0)
    assert summary["first"] == "2019-10-10T16:00:00Z"
    assert summary["last"] == "2019-10-10T17:30:00Z"
    assert {s["reason"] for s in summary["skipped"]} == {"event"}
    assert all(s["file"] == "hobo_hoboware.csv" for s in summary["skipped"])
    assert "tmp" not in " ".join(summary["lines"])
    times = stored(world)
    assert len(times) == 7 and times[0] == FIRST
    (first,) = world.services.store.history("s1", FIRST, FIRST.replace(minute=1))
    assert (first.temperature, first.humidity, first.site, first.room) == (
        18.431,
        52.3,
        "city",
        "stack-1",
    )
    again = post(world, Role.ADMIN, [upload("hobo_hoboware.csv")]).json()
    assert (again["stored"], again["unchanged"]) == (0, 7)


def test_files_of_one_logger_are_joined_on_time_with_the_cli_options(world: World) -> None:
    answer = post(
        world,
        Role.ADMIN,
        [upload("trend_temp.csv"), upload("trend_rh.csv")],
        format="trend",
        timezone="+08:00",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["readings"] == 6  # 5 times each, 4 shared
    start = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)  # 09:00 at +08:00
    (first, *_) = world.services.store.history("s1", start, start.replace(hour=3))
    assert (first.time, first.temperature, first.humidity) == (start, 17.2, 46.0)


def test_a_dry_run_stores_nothing(world: World) -> None:
    answer = post(world, Role.ADMIN, [upload("hobo_hoboware.csv")], dry_run="true")
    assert answer.status_code == 200, answer.text
    assert answer.json()["dry_run"] is True and answer.json()["stored"] == 7
    assert stored(world) == []


def test_a_bad_file_stores_nothing_of_the_call_and_names_file_and_row(world: World) -> None:
    bad = (SAMPLES / "trend_rh.csv").read_text().replace("46.3", "46,3,1")
    answer = post(
        world, Role.ADMIN, [upload("trend_temp.csv"), upload("trend_rh.csv", bad)], format="trend"
    )
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "files"]
    assert "trend_rh.csv: row 5" in error["msg"] and "nothing stored" in error["msg"]
    assert "repoclimate-import" not in error["msg"]  # no temporary path leaks
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert world.services.store.history("s1", start, start.replace(day=2)) == []


@pytest.mark.parametrize(
    ("form", "where"),
    [({"format": "nope"}, "format"), ({"timezone": "Mars/Olympus"}, "timezone")],
)
def test_bad_options_are_422_naming_the_field(
    world: World, form: dict[str, str], where: str
) -> None:
    answer = post(world, Role.ADMIN, [upload("hobo_hoboware.csv")], **form)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", where]
    assert stored(world) == []


def test_an_upload_over_the_size_limit_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = (SAMPLES / "hobo_hoboware.csv").stat().st_size
    monkeypatch.setattr(world.services.settings.api, "import_max_mb", (size - 1) / 1e6)
    answer = post(world, Role.ADMIN, [upload("hobo_hoboware.csv")])
    assert answer.status_code == 413, answer.text
    assert "api.import_max_mb" in answer.json()["detail"]
    assert stored(world) == []
    monkeypatch.setattr(world.services.settings.api, "import_max_mb", size / 1e6)
    assert post(world, Role.ADMIN, [upload("hobo_hoboware.csv")]).status_code == 200


@pytest.mark.parametrize(
    ("role", "status"), [(None, 401), (Role.VIEWER, 403), (Role.RESPONDER, 403)]
)
def test_only_an_admin_may_import(world: World, role: Role | None, status: int) -> None:
    answer = post(world, role, [upload("hobo_hoboware.csv")])
    assert answer.status_code == status, answer.text
    assert stored(world) == []


def test_a_cookie_session_must_send_the_csrf_token(world: World) -> None:
    client, csrf = world.login(Role.ADMIN)
    files = [upload("hobo_hoboware.csv")]
    refused = client.post("/api/import", files=files, data={"sensor": "s1"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert stored(world) == []
    as_field = client.post("/api/import", files=files, data={"sensor": "s1", "csrf_token": csrf})
    assert as_field.status_code == 200, as_field.text
    assert len(stored(world)) == 7
