"""The rota marks managers: who receives the monthly condition report, for which sites, in which
language."""

from __future__ import annotations

from pathlib import Path

import pytest

from repoclimate.alerts.rota import Rota
from repoclimate.sensors.yamlfile import ConfigError

ROTA = """\
timezone: Asia/Shanghai
people:
  li:
    name: Li, head of collections
    manager: true
    language: zh-Hans
    contacts: [{email: li@example.org}]
  sam:
    manager: [city]
    contacts: [{email: sam@example.org}, {webhook: "https://chat.example.org/x"}]
  kim:
    contacts: [{email: kim@example.org}]
shifts:
  - who: [kim]
"""


def test_managers_of_a_site_in_rota_order(tmp_path: Path) -> None:
    path = tmp_path / "rota.yaml"
    path.write_text(ROTA)
    rota = Rota.load(path)
    assert rota.managers("city") == ["li", "sam"]
    assert rota.managers("shanghai") == ["li"]
    assert rota.people["li"].language == "zh-Hans" and rota.people["sam"].language == "en"
    assert not rota.people["kim"].manages("city")


def test_a_bad_manager_value_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rota.yaml"
    path.write_text(ROTA.replace("manager: [city]", "manager: sometimes"))
    with pytest.raises(ConfigError) as caught:
        Rota.load(path)
    assert "rota.yaml:9" in str(caught.value) and "manager" in str(caught.value)


def test_the_example_rota_names_its_manager() -> None:
    rota = Rota.load(Path(__file__).parents[2] / "examples" / "rota.yaml")
    assert rota.managers("city-archives") == ["carol"]
