"""The room page's and the sensors page's sensor rows (last seen, battery, calibration in force,
the health rules' findings with since — each the API's), and the charts' time axis: a 24-hour
clock in every language, in the site's zone, which the page names."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from repoclimate.alerts.model import Subject
from repoclimate.app.users import Role
from tests.app import seeding
from tests.app.web.conftest import NOW, Site, Tab, login


def api(tab: Tab, site: Site, path: str) -> Any:
    answer = tab.page.request.get(site.url + path)
    assert answer.ok, answer.text()
    return answer.json()


def test_room_page_lists_its_sensors_with_last_seen_battery_and_calibration(
    site: Site, tab: Tab
) -> None:
    login(tab, site, Role.VIEWER)
    page = tab.page
    page.goto(f"{site.url}/rooms/in-band?site=city")
    sensor = api(tab, site, "/api/sites/city/rooms/in-band")["sensors"][0]
    row = page.locator('tr[data-sensor="a1"]')
    assert (
        row.locator("td.battery").inner_text() == f"{sensor['battery']:.0f}\u00a0%" == "90\u00a0%"
    )
    assert row.locator("td.last-seen time").get_attribute("datetime") == "2026-06-01T12:00:00+00:00"
    calibration = row.locator(".calibration")
    offsets = sensor["calibration"]
    assert float(calibration.get_attribute("data-t") or "nan") == offsets["temperature_offset"]
    assert float(calibration.get_attribute("data-rh") or "nan") == offsets["humidity_offset"]
    # the registry's "from: 2026-05-20" is that day in London; the note is shown with it
    assert calibration.inner_text() == "-0.3\u00a0°C, +1.2\u00a0%RH since 2026-05-20 · HM40 check"
    assert row.locator("td.health-cell").inner_text() == "–"  # no health finding
    page.goto(f"{site.url}/rooms/near?site=city")
    assert page.locator('tr[data-sensor="b1"] td.calibration-cell').inner_text() == "–"
    assert tab.errors == []


HEALTH = [  # (rule, sensor, room, hours before NOW it began, English, Chinese)
    ("sensor.stuck", "b1", "near", 5, "Stuck", "数值停滞"),
    ("sensor.battery_low", "d1", "silent", 30, "Battery low", "电量低"),
    ("sensor.silent", "d1", "silent", 2, "Silent", "离线"),
]


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
def test_sensors_page_shows_the_health_rules_findings_with_since(
    site: Site, tab: Tab, lang: str
) -> None:
    ids = seeding.fire(
        site.services.state,
        [
            seeding.rh_finding(
                Subject("city", room, sensor), NOW, 0.0, 0.0, rule=rule, since=timedelta(hours=h)
            )
            for rule, sensor, room, h, _, _ in HEALTH
        ],
        NOW,
    )
    login(tab, site, Role.VIEWER, lang=lang)
    page = tab.page
    page.goto(f"{site.url}/sensors")
    for (rule, sensor, _, _, english, chinese), alert_id in zip(HEALTH, ids, strict=True):
        finding = page.locator(f'tr[data-sensor="{sensor}"] .health li[data-rule="{rule}"]')
        assert finding.get_attribute("data-alert") == str(alert_id)
        assert finding.locator("a").get_attribute("href") == f"/alerts/{alert_id}"
        assert finding.locator("a").inner_text() == (english if lang == "en" else chinese)
        since = next(
            h for h in api(tab, site, f"/api/sensors/{sensor}")["health"] if h["rule"] == rule
        )
        assert finding.locator("time").get_attribute("datetime") == since["since"].replace(
            "Z", "+00:00"
        )
    # in London's zone (BST): the battery finding began 30 h before 13:00 BST
    battery = page.locator('tr[data-sensor="d1"] li[data-rule="sensor.battery_low"] time')
    assert battery.inner_text() == "2026-05-31 07:00 BST"
    # oldest first; a sensor without findings shows a dash, and the excursion alert is not one
    rules = page.locator('tr[data-sensor="d1"] .health li')
    assert [rules.nth(i).get_attribute("data-rule") for i in range(rules.count())] == [
        "sensor.battery_low",
        "sensor.silent",
    ]
    assert page.locator('tr[data-sensor="a1"] td.health-cell').inner_text() == "–"
    assert page.locator('tr[data-sensor="c1"] td.health-cell').inner_text() == "–"
    page.screenshot(path=site.shots / f"sensors-health-{lang}.png", full_page=True)
    assert tab.errors == []


@pytest.mark.parametrize(("lang", "locale"), [("en", "en-US"), ("zh-Hans", "zh-CN")])
@pytest.mark.parametrize(
    ("path", "zone"),
    [
        ("/rooms/in-band?site=city", "Europe/London (BST)"),
        ("/rooms/damp?site=county", "Asia/Shanghai (CST)"),
    ],
)
def test_chart_axes_use_a_24_hour_clock_in_the_sites_zone(
    site: Site, browser: Any, lang: str, locale: str, path: str, zone: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    try:
        page = context.new_page()
        tab = Tab(page, [], [])
        page.on("pageerror", lambda e: tab.errors.append(str(e)))
        login(tab, site, Role.VIEWER, lang=lang)
        page.goto(site.url + path)
        page.wait_for_selector('#chart[data-loaded="day"]')
        assert zone in page.locator("#chart .zone").inner_text()
        ticks = page.locator('.chart[data-quantity="temperature"] text.tick-x').all_text_contents()
        assert len(ticks) == 7
        assert all(re.fullmatch(r"\d{2}:\d{2}", t) for t in ticks), ticks
        hours = [int(t[:2]) for t in ticks]
        # the day shown ends at NOW (13:00 BST / 20:00 CST): the ticks are the local hours
        offset = 1 if "London" in zone else 8
        assert hours == [(12 + offset + 4 * i) % 24 for i in range(7)]
        box = page.locator('.chart[data-quantity="temperature"] svg').bounding_box()
        assert box is not None
        # 1.5 h into the day shown: 14:30 in London, 21:30 in Shanghai
        page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] / 2)
        tip = page.locator('.chart[data-quantity="temperature"] .tip').inner_text()
        assert re.search(r"\b(1\d|2[0-3]):\d{2}\b", tip), tip  # afternoon, on a 24-hour clock
        assert not re.search(r"AM|PM|am|pm|上午|下午|晚上", tip), tip
        assert tab.errors == []
    finally:
        context.close()
