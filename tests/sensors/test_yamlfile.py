"""The shared YAML loader names the file, line and field of every problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from repoclimate.sensors.yamlfile import ConfigError, format_validation_error, load_yaml, parse_yaml


def test_lines_are_mapped_for_keys_and_items() -> None:
    data, lines = parse_yaml("a:\n  b: 1\n  c:\n    - x\n    - y\n", "f.yaml")
    assert data == {"a": {"b": 1, "c": ["x", "y"]}}
    assert lines[("a", "b")] == 2
    assert lines[("a", "c", 1)] == 5


def test_duplicate_key_is_refused_with_both_lines() -> None:
    with pytest.raises(
        ConfigError, match=r"f\.yaml:3: a\.b: duplicate key 'b' \(first at line 2\)"
    ):
        parse_yaml("a:\n  b: 1\n  b: 2\n", "f.yaml")


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"f\.yaml:2: invalid YAML"):
        parse_yaml("a: [1,\nb: }\n", "f.yaml")


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_yaml(missing)


def test_validation_error_points_at_the_field_line() -> None:
    class Model(BaseModel):
        model_config = ConfigDict(extra="forbid")
        interval: int

    data, lines = parse_yaml("# header\ninterval: soon\n", "f.yaml")
    with pytest.raises(ValidationError) as caught:
        Model.model_validate(data)
    error = format_validation_error(Path("f.yaml"), lines, (), caught.value)
    assert str(error).startswith("f.yaml:2: interval: ")
