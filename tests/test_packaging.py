"""The wheel installs one top-level name, `repoclimate`, with every subpackage and its markers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("sensors", "ingest", "history", "preservation", "alerts", "dashboards", "reports", "app")


def _source_packages() -> set[str]:
    """Every folder with an ``__init__.py`` under the package folders, as its installed name."""
    found = set()
    for folder in FOLDERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT)
            found.add("repoclimate/" + relative.as_posix())
    return found


def test_wheel_holds_only_repoclimate_with_every_subpackage(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", *FOLDERS):
        if (ROOT / name).is_dir():
            skip = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, source / name, ignore=skip)
        else:
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip_wheel, "--quiet", "--wheel-dir", str(wheels), str(source)], check=True)
    (wheel,) = wheels.glob("repoclimate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == {"repoclimate"}
    packages = {name.rsplit("/", 1)[0] for name in names if name.endswith("/__init__.py")}
    assert packages == _source_packages()
    modules = {name for name in names if name.endswith(".py")}
    for folder in FOLDERS:
        for module in (ROOT / folder).rglob("*.py"):
            assert "repoclimate/" + module.relative_to(ROOT).as_posix() in modules
        assert f"repoclimate/{folder}/py.typed" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert (
        "repoclimate = repoclimate.app.cli:main"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )
