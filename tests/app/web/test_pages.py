"""The built-in pages in headless Chromium against a real server: the overview's colours and
numbers are the API's, alerts are acknowledged by button (and refused to a viewer), the room
chart holds the seeded points, every page fits a desktop and a phone, stays on this host, logs
no console error, and the Chinese overview has no English left. Screenshots go to the test's
temporary directory (``<tmp>/screenshots``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from repoclimate.alerts.model import AlertState
from repoclimate.app.users import Role
from repoclimate.sensors.reading import Reading
from tests.app.web.conftest import EXPECTED_STATUS, NOW, Site, Tab, login

playwright_sync = pytest.importorskip("playwright.sync_api")

BACKGROUND = {  # app.css: --ok-bg, --near-bg, --out-bg, --silent-bg
    "ok": "rgb(227, 244, 232)",
    "near": "rgb(255, 241, 214)",
    "out": "rgb(253, 228, 225)",
    "silent": "rgb(236, 236, 236)",
}


def api(tab: Tab, site: Site, path: str) -> Any:
    answer = tab.page.request.get(site.url + path)
    assert answer.ok, answer.text()
    return answer.json()


def fmt(value: float | None, digits: int, unit: str) -> str:
    return "–" if value is None else f"{value:.{digits}f}\u00a0{unit}"


def test_overview_colours_and_numbers_are_the_apis(site: Site, tab: Tab) -> None:
    login(tab, site, Role.VIEWER)
    page = tab.page
    rooms = {(s["id"], r["id"]): r for s in api(tab, site, "/api/sites") for r in s["rooms"]}
    tiles = page.locator("a.tile")
    assert tiles.count() == len(rooms) == 6
    seen = {}
    for i in range(tiles.count()):
        tile = tiles.nth(i)
        key = (tile.get_attribute("data-site"), tile.get_attribute("data-room"))
        room = rooms[key]
        status = tile.get_attribute("data-status")
        assert status == room["status"]
        seen[key[1]] = status
        colour = tile.evaluate("t => getComputedStyle(t).backgroundColor")
        assert colour == BACKGROUND[status], (key, status, colour)
        assert tile.locator(f".word.status-{status}").inner_text() == status
        for sensor in room["sensors"]:
            line = tile.locator(f'.reading[data-sensor="{sensor["id"]}"]')
            assert line.locator(".t").inner_text() == fmt(sensor["temperature"], 1, "°C")
            assert line.locator(".rh").inner_text() == fmt(sensor["humidity"], 0, "%RH")
            assert line.locator(".dp").inner_text().endswith(fmt(sensor["dew_point"], 1, "°C"))
        assert tile.locator(".open-alerts").get_attribute("data-count") == str(
            len(room["open_alerts"])
        )
        silent = sum(s["status"] == "silent" for s in room["sensors"])
        assert tile.locator(".silent").get_attribute("data-count") == str(silent)
    assert {k: seen[k] for k in EXPECTED_STATUS} == EXPECTED_STATUS
    # the network view, worst first; each site's local time with its zone
    chips = page.locator(".site-chip")
    assert [chips.nth(i).get_attribute("data-site") for i in range(chips.count())] == [
        "city",  # one room out, like the county, but also one silent and one near
        "county",
    ]
    counts = {
        (c.get_attribute("data-state"), c.get_attribute("data-count"))
        for c in chips.first.locator(".room-count").all()
    }
    assert counts == {("out", "1"), ("silent", "1"), ("near", "1")}
    # the city's oldest open alert about its out room is the firing one, since 11:00 UTC
    assert chips.first.locator(".since time").inner_text() == "2026-06-01 12:00 BST"
    assert "13:00 BST (Europe/London)" in page.locator("#site-city h2").inner_text()
    assert "20:00 CST (Asia/Shanghai)" in page.locator("#site-county h2").inner_text()
    assert page.locator("button, form.silence").count() == 1  # only the logout button
    page.screenshot(path=site.shots / "overview-viewer.png", full_page=True)
    assert tab.errors == []


def test_overview_refreshes_without_a_reload(site: Site, tab: Tab) -> None:
    login(tab, site, Role.VIEWER)
    page = tab.page
    tile = page.locator('a.tile[data-room="in-band"]')
    assert tile.get_attribute("data-status") == "ok"
    page.evaluate("window.__sameDocument = true")
    site.services.store.write(
        [Reading("a1", NOW + timedelta(seconds=1), 25.0, 38.0, site="city", room="in-band")]
    )
    assert page.evaluate("window.repoclimate.refresh()") is True
    assert tile.get_attribute("data-status") == "out"
    assert tile.locator(".t").inner_text() == "25.0\u00a0°C"
    assert page.evaluate("window.__sameDocument") is True  # the same document: no reload
    # the session ends elsewhere: the next refresh goes to the login page, not into the tiles
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    ended = page.request.post(f"{site.url}/api/logout", headers={"X-CSRF-Token": csrf or ""})
    assert ended.status == 204
    with page.expect_navigation():
        page.evaluate("window.repoclimate.refresh()")
    assert page.url == f"{site.url}/login?next=/"
    assert tab.errors == []


def test_responder_acknowledges_with_the_button(site: Site, tab: Tab) -> None:
    login(tab, site, Role.RESPONDER)
    page = tab.page
    page.goto(f"{site.url}/alerts")
    item = page.locator(f'li.alert[data-alert="{site.alert_id}"]')
    assert item.get_attribute("data-state") == "firing"
    page.screenshot(path=site.shots / "alerts-responder.png", full_page=True)
    with page.expect_navigation():
        item.locator("button[data-ack]").click()
    alert = site.services.state.get(site.alert_id)
    assert alert.state is AlertState.ACKNOWLEDGED
    assert alert.acknowledged_by == "responder"
    item = page.locator(f'li.alert[data-alert="{site.alert_id}"]')
    assert item.get_attribute("data-state") == "acknowledged"
    assert item.locator("button[data-ack]").count() == 0
    page.goto(f"{site.url}/alerts/{site.alert_id}")
    assert "responder" in page.locator("ol.events").inner_text()
    page.screenshot(path=site.shots / "alert-acknowledged.png", full_page=True)
    assert tab.errors == []


def test_responder_silences_with_the_form(site: Site, tab: Tab) -> None:
    login(tab, site, Role.RESPONDER)
    page = tab.page
    page.goto(f"{site.url}/alerts")
    form = page.locator(f'li.alert[data-alert="{site.alert_id}"] form.silence')
    form.locator("input[name=reason]").fill("dehumidifier being serviced")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    silences = api(tab, site, "/api/silences")
    assert [(s["sensor"], s["reason"], s["created_by"]) for s in silences] == [
        ("c1", "dehumidifier being serviced", "responder")
    ]
    assert tab.errors == []


def test_viewer_has_no_buttons_and_a_forged_post_is_refused(site: Site, tab: Tab) -> None:
    login(tab, site, Role.VIEWER)
    page = tab.page
    page.goto(f"{site.url}/alerts")
    assert page.locator(f'li.alert[data-alert="{site.alert_id}"]').count() == 1
    assert page.locator("button[data-ack], form.silence").count() == 0
    forged = page.evaluate(
        """async (id) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const post = (headers) => fetch(`/api/alerts/${id}/ack`, {method: "POST",
                headers: {"Content-Type": "application/json", ...headers}, body: "{}"});
            return [(await post({"X-CSRF-Token": csrf})).status, (await post({})).status];
        }""",
        site.alert_id,
    )
    assert forged == [403, 403]  # with the token: not a responder; without: no CSRF token
    assert site.services.state.get(site.alert_id).state is AlertState.FIRING
    page.screenshot(path=site.shots / "alerts-viewer.png", full_page=True)


def history_count(tab: Tab, site: Site, days: int, every: str | None) -> int:
    """Points of sensor a1 the history API gives for the last ``days`` before NOW."""
    start = (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    query = f"start={start}&end={end}" + (f"&every={every}" if every else "")
    points = api(tab, site, f"/api/sites/city/rooms/in-band/history?{query}")["points"]
    return sum(p["sensor"] == "a1" for p in points)


def test_room_chart_holds_the_seeded_points_and_switches_range(site: Site, tab: Tab) -> None:
    login(tab, site, Role.VIEWER)
    page = tab.page
    page.goto(f"{site.url}/rooms/in-band?site=city")
    chart = page.locator("#chart")
    page.wait_for_selector('#chart[data-loaded="day"]')
    path = page.locator('.chart[data-quantity="temperature"] path[data-sensor="a1"]')
    assert int(path.get_attribute("data-count") or 0) == history_count(tab, site, 1, None) == 288
    band = page.locator('.chart[data-quantity="humidity"] rect.band')
    assert (band.get_attribute("data-low"), band.get_attribute("data-high")) == ("30", "45")
    assert page.locator(".inband").inner_text() == "Time in band: 100 %"
    page.screenshot(path=site.shots / "room-day.png", full_page=True)
    for name, days, every in (("week", 7, "1h"), ("month", 30, "1h"), ("year", 365, "1d")):
        page.click(f'button[data-range="{name}"]')
        page.wait_for_selector(f'#chart[data-loaded="{name}"]')
        assert chart.get_attribute("data-every") == every
        expected = history_count(tab, site, days, every)
        assert int(path.get_attribute("data-count") or 0) == expected, name
    assert expected == 11  # a year of daily means over the ten seeded days (+ a partial one)
    # hover shows the values under the pointer
    page.click('button[data-range="day"]')
    page.wait_for_selector('#chart[data-loaded="day"]')
    box = page.locator('.chart[data-quantity="temperature"] svg').bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    assert "a1:" in page.locator('.chart[data-quantity="temperature"] .tip').inner_text()
    page.screenshot(path=site.shots / "room-hover.png", full_page=True)
    assert tab.errors == []


PAGES = [
    "/",
    "/rooms/in-band?site=city",
    "/rooms/damp?site=county",
    "/alerts",
    "/alerts/{alert}",
    "/sensors",
    "/login",
]


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_fits_and_stays_on_this_host(
    site: Site, tab: Tab, width: int, lang: str
) -> None:
    page = tab.page
    login(tab, site, Role.RESPONDER, lang=lang)
    page.set_viewport_size({"width": width, "height": 900})
    for path in PAGES:
        url = site.url + path.format(alert=site.alert_id)
        page.goto(url)
        page.wait_for_load_state("networkidle")
        if path.startswith("/rooms/"):
            page.wait_for_selector("#chart[data-loaded]")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, width, overflow)
        name = re.sub(r"[^a-z0-9]+", "-", path.format(alert=site.alert_id)).strip("-") or "overview"
        page.screenshot(path=site.shots / f"{name}-{lang}-{width}.png", full_page=True)
    foreign = [u for u in tab.requests if not u.startswith(site.url + "/")]
    assert foreign == []
    assert tab.errors == []


def test_login_is_needed_and_logout_ends_the_session(site: Site, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{site.url}/alerts")
    assert page.url == f"{site.url}/login?next=/alerts"
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", "wrong")
    page.click("#login button[type=submit]")
    # the answer comes by fetch: wait for the message (a bare read raced it)
    playwright_sync.expect(page.locator("#login .error")).to_have_text("Wrong name or password.")
    login(tab, site, Role.VIEWER)
    with page.expect_navigation():
        page.click("form[action='/logout'] button")
    assert page.url == f"{site.url}/login"
    page.goto(f"{site.url}/")
    assert page.url.startswith(f"{site.url}/login")
    tab.errors[:] = [e for e in tab.errors if "401" not in e]  # the wrong password's answer
    assert tab.errors == []


def test_chinese_overview_has_no_english_left(site: Site, tab: Tab) -> None:
    login(tab, site, Role.RESPONDER, lang="zh-Hans")
    page = tab.page
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    sites = api(tab, site, "/api/sites")
    data = {"repoclimate", "English", "BST", "CST", "Europe/London", "Asia/Shanghai", "RH"}
    for s in sites:
        data |= {s["id"], s["name"]}
        for r in s["rooms"]:
            data |= {r["id"], r["name"], r["profile"]}
            data |= {sensor["id"] for sensor in r["sensors"]}
    data.add("responder")  # the user's name
    text = page.locator("body").inner_text()
    for word in sorted(data, key=len, reverse=True):
        text = text.replace(word, " ")
    leftover = re.findall(r"[A-Za-z]{2,}", text)
    assert leftover == [], leftover
    assert (
        "总览" in text and "正常" in text and "临界" in text and "超标" in text and "离线" in text
    )
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path=site.shots / "overview-zh-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=site.shots / "overview-zh-1280.png", full_page=True)
    # the choice is kept: the next page without ?lang= is Chinese too
    page.goto(f"{site.url}/alerts")
    assert page.locator("h1").inner_text() == "告警"
    assert tab.errors == []
