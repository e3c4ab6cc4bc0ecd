"""More of the pages in headless Chromium: times shown in each site's local time with its zone,
the ack link of a notification landing on the alert's page, and the room page's derived charts
(dew point, MRF, VTT index, PI — the history API's values, read back from the drawn paths) with
the room's alert periods drawn as spans on the time axis."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.app.users import Role
from tests.app.web.conftest import NOW, PASSWORD, Site, Tab, login

DERIVED = ("dew_point", "mrf", "vtt", "pi")


def last_seen(page: Any, sensor: str) -> str:
    text: str = page.locator(f'tr[data-sensor="{sensor}"] td.last-seen time').inner_text()
    return text


def test_alert_and_sensor_times_are_the_sites_local_time(site: Site, tab: Tab) -> None:
    login(tab, site, Role.VIEWER)
    page = tab.page
    page.goto(f"{site.url}/alerts")
    item = page.locator(f'li.alert[data-alert="{site.alert_id}"] time')
    assert item.inner_text() == "2026-06-01 12:00 BST"  # since NOW − 1 h = 11:00 UTC, London
    page.goto(f"{site.url}/alerts/{site.alert_id}")
    assert page.locator("ol.events time").first.inner_text() == "2026-06-01 13:00 BST"
    assert "UTC" not in page.locator("main").inner_text()
    page.screenshot(path=site.shots / "alert-local-time.png", full_page=True)
    page.goto(f"{site.url}/sensors")
    assert (
        page.locator('tr[data-sensor="a1"] td.last-seen time').inner_text()
        == "2026-06-01 13:00 BST"
    )
    assert (
        page.locator('tr[data-sensor="e1"] td.last-seen time').inner_text()
        == "2026-06-01 20:00 CST"
    )
    # a device of no site: UTC, said so
    assert page.locator('li[data-sensor="stray-7"] time').inner_text() == "2026-06-01 11:57 UTC"
    page.screenshot(path=site.shots / "sensors-local-time.png", full_page=True)
    page.goto(f"{site.url}/rooms/in-band?site=city")
    assert (
        page.locator('tr[data-sensor="a1"] td.last-seen time').inner_text()
        == "2026-06-01 13:00 BST"
    )
    assert tab.errors == []


def ack_link(site: Site) -> str:
    token = site.services.state.get(site.alert_id).ack_token
    return f"{site.url}/alerts/{site.alert_id}/ack?token={token}"


@pytest.mark.parametrize("logged_in", [True, False])
def test_ack_link_confirmed_lands_on_the_alert_page(site: Site, tab: Tab, logged_in: bool) -> None:
    page = tab.page
    if logged_in:
        login(tab, site, Role.VIEWER)
    page.goto(ack_link(site))
    assert page.locator("h1").inner_text() == f"Acknowledge alert {site.alert_id}?"
    assert site.services.state.get(site.alert_id).state is AlertState.FIRING  # GET: no change
    page.screenshot(path=site.shots / f"ack-link-confirm-{logged_in}.png", full_page=True)
    page.fill("input[name=name]", "Ana")
    with page.expect_navigation():
        page.click("button[type=submit]")
    alert = site.services.state.get(site.alert_id)
    assert alert.state is AlertState.ACKNOWLEDGED
    assert alert.acknowledged_by == "Ana (ack link)"
    if not logged_in:  # the pages need a login: it comes first, then the alert's page
        assert page.url == f"{site.url}/login?next=/alerts/{site.alert_id}"
        page.fill("input[name=username]", "viewer")
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.click("#login button[type=submit]")
    assert page.url == f"{site.url}/alerts/{site.alert_id}"
    item = page.locator(f'li.alert[data-alert="{site.alert_id}"]')
    assert item.get_attribute("data-state") == "acknowledged"
    assert "Ana (ack link)" in item.inner_text()
    assert "Ana (ack link)" in page.locator("ol.events").inner_text()
    page.screenshot(path=site.shots / f"ack-link-landed-{logged_in}.png", full_page=True)
    assert tab.errors == []


def drawn(page: Any, quantity: str, sensor: str) -> tuple[list[tuple[float, float]], float]:
    """The (ms, value) points of a drawn series, read back through the chart's geometry, and
    the tolerance in value that drawing to 0.1 px allows."""
    svg = page.locator(f'.chart[data-quantity="{quantity}"] svg')
    geometry = json.loads(svg.get_attribute("data-geometry") or "{}")
    lo, hi = float(svg.get_attribute("data-lo") or 0), float(svg.get_attribute("data-hi") or 0)
    d = svg.locator(f'path[data-sensor="{sensor}"]').get_attribute("d") or ""
    left, top = geometry["L"], geometry["T"]
    width = geometry["W"] - left - geometry["R"]
    height = geometry["H"] - top - geometry["B"]
    t0, t1 = geometry["t0"], geometry["t1"]
    points = []
    for px, py in re.findall(r"[ML]([-\d.]+) ([-\d.]+)", d):
        ms = t0 + (float(px) - left) / width * (t1 - t0)
        value = lo + (1 - (float(py) - top) / height) * (hi - lo)
        points.append((ms, value))
    return points, (hi - lo) / height * 0.06


RISING = {"mrf": 0.1, "vtt": 0.01}
"""How far the damp room's cumulative mould indices rise over the day, at least."""


def test_room_derived_charts_hold_the_apis_values(site: Site, tab: Tab) -> None:
    """The county's damp room (25 °C, RH rising 88 → 97 %): its mould risk factor and VTT index
    rise from zero over the day; every drawn point is the API's value, to the drawing's 0.1 px."""
    login(tab, site, Role.VIEWER)
    page = tab.page
    page.goto(f"{site.url}/rooms/damp?site=county")
    page.wait_for_selector('#chart[data-loaded="day"]')
    start = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    query = f"start={start}&end={end}" + "".join(f"&derived={q}" for q in DERIVED)
    answer = page.request.get(f"{site.url}/api/sites/county/rooms/damp/history?{query}")
    assert answer.ok, answer.text()
    api_points = [p for p in answer.json()["points"] if p["sensor"] == "f1"]
    assert len(api_points) == 287  # every 5 min from NOW − 1 day, NOW itself not in [start, end)
    for quantity in DERIVED:
        expected = [p[quantity] for p in api_points if p[quantity] is not None]
        assert len(expected) > 200, quantity  # PI: none above 95 %RH, outside IPI's table
        if quantity in RISING:
            assert expected == sorted(expected), quantity  # cumulative: never falls here
            assert expected[-1] - expected[0] >= RISING[quantity], (quantity, expected[-1])
        points, tolerance = drawn(page, quantity, "f1")
        assert len(points) == len(expected), quantity
        values = [v for _, v in sorted(points)]
        worst = max(abs(v - e) for v, e in zip(values, expected, strict=True))
        assert worst <= tolerance, (quantity, worst, tolerance)
        assert tolerance < (max(expected) - min(expected)) / 20, quantity  # a rise it can see
    mrf_title = page.locator('.chart[data-quantity="mrf"] svg text').first.text_content()
    assert mrf_title == "Mould risk factor (MRF)"  # a number without a unit
    # axes stay inside the quantities' limits: mould indices from 0 (and MRF at least to 1,
    # germination), RH not above 100 % though the room reaches 97 %
    for quantity, lo, hi in (("mrf", 0, 1), ("vtt", 0, 1)):
        svg = page.locator(f'.chart[data-quantity="{quantity}"] svg')
        assert float(svg.get_attribute("data-lo") or "nan") == lo, quantity
        assert float(svg.get_attribute("data-hi") or "nan") == hi, quantity
    rh_svg = page.locator('.chart[data-quantity="humidity"] svg')
    assert float(rh_svg.get_attribute("data-hi") or "nan") == 100
    page.screenshot(path=site.shots / "room-derived-damp.png", full_page=True)
    assert tab.errors == []


def test_room_charts_mark_alert_periods_as_spans(site: Site, tab: Tab) -> None:
    resolved = Finding(
        rule="excursion.rh",
        subject=Subject("city", "out", "c1"),
        severity=Severity.WARNING,
        since=NOW - timedelta(hours=6),
        value=52.0,
        threshold=45.0,
        unit="%RH",
        summary="RH 52 % in out (c1)",
        advice="Check the dehumidifier.",
    )
    state = site.services.state
    with state.transaction() as tx:
        old = tx.insert_alert(resolved, AlertState.RESOLVED, NOW - timedelta(hours=4))
        tx.update_alert(old, NOW - timedelta(hours=4), resolved_at=NOW - timedelta(hours=4))
    login(tab, site, Role.VIEWER)
    page = tab.page
    page.goto(f"{site.url}/rooms/out?site=city")
    page.wait_for_selector('#chart[data-loaded="day"]')
    svg = page.locator('.chart[data-quantity="humidity"] svg')
    geometry = json.loads(svg.get_attribute("data-geometry") or "{}")
    left, right = geometry["L"], geometry["W"] - geometry["R"]

    def x(hours_before_now: float) -> float:
        return left + (24 - hours_before_now) / 24 * (right - left)

    for alert_id, begins, ends, is_open in (
        (site.alert_id, 1, 0, "true"),  # firing since an hour ago: to the chart's end (now)
        (old, 6, 4, "false"),  # from its start to its resolution
    ):
        span = svg.locator(f'rect.alert-span[data-alert="{alert_id}"]')
        assert span.get_attribute("data-open") == is_open
        drawn_x = float(span.get_attribute("x") or "nan")
        width = float(span.get_attribute("width") or "nan")
        assert drawn_x == pytest.approx(x(begins), abs=0.5), alert_id
        assert drawn_x + width == pytest.approx(x(ends), abs=0.5), alert_id
    # every chart of the room carries the spans
    assert page.locator("rect.alert-span").count() == 2 * page.locator(".chart svg").count()
    page.screenshot(path=site.shots / "room-alert-spans.png", full_page=True)
    assert tab.errors == []
