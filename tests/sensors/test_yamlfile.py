"""The one YAML loader and the one located issue: every problem names file, line and field, and
the same mistake reads the same in every file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from repoclimate.sensors.yamlfile import (
    ConfigError,
    FieldIssuesError,
    Issue,
    load_model,
    load_yaml,
    parse_yaml,
    unknown_key,
    validate,
)


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    silent_factor: float = 3.0
    stuck_hours: float = Field(default=12.0, gt=0)


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval: int = 1
    health: Inner = Inner()
    sites: dict[str, Inner] = {}
    shifts: list[Inner] = []
    start: str | None = Field(default=None, alias="from")


def problems(text: str, model: type[BaseModel] = Outer) -> list[str]:
    data, lines = parse_yaml(text, "f.yaml")
    with pytest.raises(ConfigError) as caught:
        validate(model, data, source="f.yaml", lines=lines)
    return str(caught.value).splitlines()


def test_issue_prints_as_file_line_field_reason() -> None:
    assert str(Issue("f.yaml", 3, "a.b", "bad")) == "f.yaml:3: a.b: bad"
    assert str(Issue("f.yaml", None, "", "cannot read")) == "f.yaml: cannot read"
    assert str(Issue("REPOCLIMATE_X", None, "x", "bad")) == "REPOCLIMATE_X: x: bad"
    assert str(Issue(None, None, "x", "bad")) == "x: bad"
    error = ConfigError([Issue("f", 1, "a", "one"), Issue("f", 2, "b", "two")])
    assert str(error) == "f:1: a: one\nf:2: b: two"
    assert isinstance(error, ValueError)


def test_lines_are_mapped_for_keys_and_items() -> None:
    data, lines = parse_yaml("a:\n  b: 1\n  c:\n    - x\n    - y\n", "f.yaml")
    assert data == {"a": {"b": 1, "c": ["x", "y"]}}
    assert lines[("a", "b")] == 2
    assert lines[("a", "c", 1)] == 5


def test_duplicate_key_is_refused_with_both_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml("a:\n  b: 1\n  b: 2\n", "f.yaml")
    assert str(caught.value) == "f.yaml:3: a.b: duplicate key 'b' (first at line 2)"
    assert caught.value.issues == [Issue("f.yaml", 3, "a.b", "duplicate key 'b' (first at line 2)")]


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"^f\.yaml:2: invalid YAML"):
        parse_yaml("a: [1,\nb: }\n", "f.yaml")


def test_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=rf"^{missing}: file not found$"):
        load_yaml(missing)
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: cannot read: Is a directory$"):
        load_yaml(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=rf"^{binary}: cannot read: .*codec can't decode"):
        load_yaml(binary)


def test_validation_error_points_at_the_field_line() -> None:
    assert problems("# header\ninterval: soon\n") == [
        "f.yaml:2: interval: Input should be a valid integer, unable to parse string as an integer"
    ]


def test_unknown_key_suggests_the_close_one_at_any_depth() -> None:
    assert problems(
        "intervall: 1\n"
        "health:\n  silent_factr: 2\n"
        "sites:\n  a:\n    stuckhours: 1\n"
        "shifts:\n  - {silent_factor: 1}\n  - {silentfactor: 1}\n"
    ) == [
        "f.yaml:1: intervall: unknown key (did you mean 'interval'?)",
        "f.yaml:3: health.silent_factr: unknown key (did you mean 'silent_factor'?)",
        "f.yaml:6: sites.a.stuckhours: unknown key (did you mean 'stuck_hours'?)",
        "f.yaml:9: shifts[1].silentfactor: unknown key (did you mean 'silent_factor'?)",
    ]


def test_unknown_key_far_from_any_lists_the_known_keys() -> None:
    assert problems("colour: red\n") == [
        "f.yaml:1: colour: unknown key (known keys: interval, health, sites, shifts, from)"
    ]
    assert unknown_key("x", None) == "unknown key"
    assert unknown_key("zzz", [f"key{n}" for n in range(20)]) == "unknown key"


def test_value_error_prefix_and_mapping_types_read_plainly() -> None:
    class Levels(BaseModel):
        low: float = 1
        high: float = 2

        @model_validator(mode="after")
        def _order(self) -> Levels:
            if self.high < self.low:
                raise ValueError("high must not be below low")
            return self

    class Holder(BaseModel):
        levels: Levels = Levels()

    assert problems("levels: {low: 3}\n", Holder) == [
        "f.yaml:1: levels: high must not be below low"
    ]
    assert problems("levels: [1, 2]\n", Holder) == [
        "f.yaml:1: levels: expected a mapping of keys, got a list"
    ]


def test_field_problems_of_a_validator_are_placed_at_their_own_fields() -> None:
    class Team(BaseModel):
        people: list[str]

        @model_validator(mode="after")
        def _unique(self) -> Team:
            seen: dict[str, int] = {}
            for index, name in enumerate(self.people):
                if name in seen:
                    raise FieldIssuesError(
                        [(("people", index), "duplicate", ("people", seen[name]))]
                    )
                seen[name] = index
            return self

    class File(BaseModel):
        team: Team

    assert problems("team:\n  people:\n    - ann\n    - bo\n    - ann\n", File) == [
        "f.yaml:5: team.people[2]: duplicate (first at line 3, team.people[0])"
    ]


def test_load_model_reads_validates_and_refuses_a_non_mapping(tmp_path: Path) -> None:
    path = tmp_path / "rota.yaml"
    path.write_text("health:\n  stuck_hours: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_model(path, Outer, what="the rota file")
    assert str(caught.value) == (f"{path}:2: health.stuck_hours: Input should be greater than 0")
    path.write_text("- a\n")
    with pytest.raises(ConfigError, match=rf"^{path}:1: the rota file must be a mapping of keys"):
        load_model(path, Outer, what="the rota file")
    path.write_text("# nothing yet\n")
    assert load_model(path, Outer, what="the rota file") == Outer()
