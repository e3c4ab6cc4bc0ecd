"""The one rule for device and sensor ids that become tags in the store."""

from __future__ import annotations

import pytest

from repoclimate.sensors.tags import check_tag_text, tag_text_problem


@pytest.mark.parametrize("value", ["s3-north", "a b", "a,b", "a=b", "a\\b", "a\\\\b", "Büro/1"])
def test_storable_ids_pass(value: str) -> None:
    assert tag_text_problem(value) is None


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("a\nb", "control character '\\n'"),
        ("a\x7f", "control character"),
        ("a\x85", "control character"),
        ("a\u2028b", "non-printable character"),
        ("a\ud800", "non-printable character"),
        ("abc\\", "backslash at its end"),
        ("a\\ b", "backslash"),
        ("a\\,b", "backslash"),
        ("a\\=b", "backslash"),
    ],
)
def test_unstorable_ids_are_named(value: str, needle: str) -> None:
    problem = tag_text_problem(value)
    assert problem is not None and needle in problem
    with pytest.raises(ValueError, match=r"^device id "):
        check_tag_text(value, "device id")
