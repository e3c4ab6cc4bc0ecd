"""The wheel carries the pages' templates, static files and catalogues (package data), so an
installed `repoclimate serve` can render them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def folders() -> set[str]:
    """The top-level source folders pyproject.toml maps packages to (a new one needs no edit
    here: the copy would otherwise lack it and the build fail)."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        package_dir = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    return {str(path).split("/")[0] for path in package_dir.values() if path}


def test_wheel_holds_every_page_file(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", *sorted(folders())):
        if (ROOT / name).is_dir():
            skip = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, source / name, ignore=skip)
        else:
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip_wheel, "--quiet", "--wheel-dir", str(wheels), str(source)], check=True)
    (wheel,) = wheels.glob("repoclimate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    web = ROOT / "app" / "web"
    wanted = {
        "repoclimate/app/web/" + f.relative_to(web).as_posix()
        for part in ("templates", "static", "locale")
        for f in (web / part).rglob("*")
        if f.is_file()
    }
    assert len(wanted) > 10
    assert sorted(wanted - names) == []
