"""`check-config` on climate profile ids: ASHRAE's pre-2019 names are accepted with a warning."""

from __future__ import annotations

from pathlib import Path

from repoclimate.app.checks import check_all

REGISTRY = """\
sites:
  - id: town-archive
    timezone: Europe/Berlin
    rooms:
      - id: magazin-1
        profile: {profile}
        holdings: paper
"""


def check(tmp_path: Path, profile: str) -> tuple[list[str], str]:
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY.format(profile=profile))
    return check_all(None, registry)


def test_an_old_ashrae_id_is_accepted_and_reported_as_the_old_name(tmp_path: Path) -> None:
    problems, summary = check(tmp_path, "ashrae-as")
    assert problems == []
    assert "config OK" in summary
    assert (
        f"{tmp_path / 'registry.yaml'}:6: sites[0].rooms[0].profile: "
        "warning: profile ashrae-as is the old name of ashrae-a1"
    ) in summary.splitlines()


def test_a_current_id_gets_no_warning(tmp_path: Path) -> None:
    problems, summary = check(tmp_path, "ashrae-a2")
    assert problems == []
    assert "warning" not in summary
