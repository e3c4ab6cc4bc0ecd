"""The rules file: layered defaults (built-in < defaults < profile < site < room < sensor) and
errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from repoclimate.alerts.config import RulesConfig
from repoclimate.sensors.yamlfile import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    return path


def test_example_rules_load_and_layer() -> None:
    rules = RulesConfig.load(Path("examples/alerts.yaml"))
    paper = rules.resolve("city-archives", "stack-3", "iso11799-paper", "s3-north")
    assert paper.excursion.for_minutes == 120  # profile layer over defaults
    assert paper.excursion.rh_margin == 2.0
    assert paper.health.silent_factor == 4  # site layer
    searchroom = rules.resolve("city-archives", "reading-room", "ashrae-b", "reading-room")
    assert not searchroom.fluctuation.enabled  # room layer
    door = rules.resolve("city-archives", "stack-3", "iso11799-paper", "stack-3-north")
    assert door.health.stuck_hours == 24  # sensor layer
    assert door.health.silent_factor == 4
    elsewhere = rules.resolve("other-site", "room", "ashrae-a", "x")
    assert elsewhere.excursion.for_minutes == 60 and elsewhere.health.silent_factor == 3


def test_most_specific_layer_wins(tmp_path: Path) -> None:
    rules = RulesConfig.load(
        write(
            tmp_path,
            """
defaults: {excursion: {for_minutes: 10, rh_margin: 1}}
profiles: {p: {excursion: {for_minutes: 20}}}
sites: {s: {excursion: {for_minutes: 30}}}
rooms: {s/r: {excursion: {for_minutes: 40}}}
sensors: {x: {excursion: {for_minutes: 50}}}
""",
        )
    )
    assert rules.resolve("s", "r", "p", "x").excursion.for_minutes == 50
    assert rules.resolve("s", "r", "p", "y").excursion.for_minutes == 40
    assert rules.resolve("s", "q", "p", "y").excursion.for_minutes == 30
    assert rules.resolve("t", "q", "p", "y").excursion.for_minutes == 20
    assert rules.resolve("t", "q", "o", "y").excursion.for_minutes == 10
    assert rules.resolve("s", "r", "p", "x").excursion.rh_margin == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "defaults:\n  excursion:\n    for_minutes: -5\n",
            r"alerts.yaml:3: defaults.excursion.for_minutes: Input should be greater than or equal",
        ),
        (
            "sites:\n  a:\n    health:\n      silent_factr: 2\n",
            r"alerts.yaml:4: sites.a.health.silent_factr: unknown key \(did you mean "
            r"'silent_factor'\?\)$",
        ),
        ("rooms:\n  stack-3:\n    mould: {}\n", r"alerts.yaml:2: rooms.stack-3: room keys are"),
        (
            "defaults:\n  mould: {mrf_warning: 2, mrf_critical: 1}\n",
            r"alerts.yaml:2: defaults.mould: critical levels",
        ),
        ("defaults:\n  excursion: [1\n", r"alerts.yaml:3: invalid YAML"),
        (
            "defaults:\n  excursoin: {}\n",
            r"alerts.yaml:2: defaults.excursoin: unknown key \(did you mean 'excursion'\?\)$",
        ),
        ("- 1\n", r"alerts.yaml:1: the rules file must be a mapping"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        RulesConfig.load(write(tmp_path, text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found$"):
        RulesConfig.load(tmp_path / "nope.yaml")


def test_every_problem_of_every_layer_is_reported_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "defaults:\n"
        "  health: {stuck_hourz: 1}\n"
        "rooms:\n"
        "  stack-3: {}\n"
        "sensors:\n"
        "  s1: {excursion: {for_minutes: -1}}\n",
    )
    with pytest.raises(ConfigError) as caught:
        RulesConfig.load(path)
    assert str(caught.value).splitlines() == [
        f"{path}:2: defaults.health.stuck_hourz: unknown key (did you mean 'stuck_hours'?)",
        f"{path}:4: rooms.stack-3: room keys are 'site/room'",
        f"{path}:6: sensors.s1.excursion.for_minutes: Input should be greater than or equal to 0",
    ]


def test_layers_that_combine_into_invalid_parameters_name_the_file_and_the_subject(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "defaults: {mould: {mrf_warning: 0.9}}\nsensors: {s1: {mould: {mrf_critical: 0.6}}}\n",
    )
    rules = RulesConfig.load(path)  # each layer is valid by itself
    with pytest.raises(ConfigError) as caught:
        rules.resolve("a", "r", "p", "s1")
    assert str(caught.value) == (
        f"{path}: mould for a/r/s1: the layers combine into invalid parameters: "
        "critical levels must not be below warning levels"
    )
