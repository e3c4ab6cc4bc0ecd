"""The README cannot drift from the code: its settings reference lists exactly the settings keys,
its route table the default routes, and its command examples print what it says they print."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from repoclimate.app.settings import Settings, env_var_for, setting_keys
from repoclimate.ingest.settings import DEFAULT_ROUTES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README text under a heading, up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", README, re.MULTILINE)
    assert match, f"README has no section {title!r}"
    level = len(match.group(1))
    rest = README[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> list[list[str]]:
    """Cells of the markdown table rows in ``text`` (header and rule rows left out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= {"|", "-", " "}:
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if cells[0].startswith("`"):
            rows.append(cells)
    return rows


def unquote(cell: str) -> str:
    return cell.strip("`")


def default_text(key: str) -> str:
    """A key's default as the README writes it."""
    model: Any = Settings
    *sections, name = key.split(".")
    for part in sections:
        annotation = model.model_fields[part].annotation
        model = next(
            arg
            for arg in getattr(annotation, "__args__", (annotation,))
            if isinstance(arg, type) and hasattr(arg, "model_fields")
        )
    value = model.model_fields[name].get_default(call_default_factory=True)
    if value is None or isinstance(value, SecretStr):
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_settings_reference_lists_exactly_the_settings_keys() -> None:
    rows = table_rows(section("Settings reference"))
    documented = [unquote(row[0]) for row in rows]
    assert len(documented) == len(set(documented)), "a key is listed twice"
    keys = list(setting_keys())
    assert sorted(documented) == sorted(keys), (
        f"missing from the README: {sorted(set(keys) - set(documented))}; "
        f"not settings: {sorted(set(documented) - set(keys))}"
    )


def test_settings_reference_names_the_right_variables_and_defaults() -> None:
    for row in table_rows(section("Settings reference")):
        key, variable, default, meaning = row
        key = unquote(key)
        assert unquote(variable) == env_var_for(key), key
        assert meaning, f"{key} has no meaning"
        if key == "mqtt.topics":
            continue  # a list: the routes table below shows it
        assert unquote(default) == default_text(key), key


def test_route_table_is_the_default_routes() -> None:
    rows = table_rows(section("Device formats and topic routes"))
    routes = [(unquote(row[0]), unquote(row[1])) for row in rows if len(row) == 3]
    assert routes == [(route.filter, route.format) for route in DEFAULT_ROUTES]


def console_examples(title: str) -> list[tuple[str, str]]:
    """(command, expected output) of every ``$ repoclimate …`` line in a section's console
    blocks (also blocks indented in a list item)."""
    examples = []
    for block in re.findall(r"```console\n(.*?)```", section(title), re.DOTALL):
        command: str | None = None
        output: list[str] = []
        for line in (line.removeprefix("  ") for line in block.splitlines()):
            if line.startswith("$ "):
                if command is not None:
                    examples.append((command, "\n".join(output)))
                command, output = line[2:], []
            else:
                output.append(line)
        if command is not None:
            examples.append((command, "\n".join(output)))
    return examples


def run(command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a README command line (``NAME=value`` assignments before it set the environment)."""
    argv = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("REPOCLIMATE_")}
    while "=" in argv[0]:
        variable, value = argv.pop(0).split("=", 1)
        env[variable] = value
    assert argv[0] == "repoclimate"
    return subprocess.run(
        [sys.executable, "-m", "repoclimate.app", *argv[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


DECODE_EXAMPLES = console_examples("Trying a message")


def test_the_readme_shows_decode_examples() -> None:
    assert len(DECODE_EXAMPLES) >= 4
    assert any(output.startswith("rejected") for _, output in DECODE_EXAMPLES)


@pytest.mark.parametrize(("command", "expected"), DECODE_EXAMPLES)
def test_readme_decode_example(command: str, expected: str) -> None:
    result = run(command)
    if expected.startswith("rejected"):
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert result.stderr.strip() == expected
    else:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected


def test_readme_check_config_example() -> None:
    ((command, expected),) = console_examples("Commands")
    result = run(command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().replace(str(ROOT), "…") == expected


def test_demo_is_the_first_command() -> None:
    first = re.search(r"```console\n(.*?)\n", README)
    assert first is not None
    assert first.group(1) == "pip install -e . && repoclimate demo"
    assert "scripts/test.sh" in section("Try it")


def file_example(title: str) -> tuple[str, str]:
    """(file name, text) of the ``yaml`` block a section introduces with "With this `NAME`:"."""
    text = section(title)
    match = re.search(r"With this `([\w.-]+)`:\s*```yaml\n(.*?)```", text, re.DOTALL)
    assert match, f"README section {title!r} shows no example file"
    body = "\n".join(line.removeprefix("  ") for line in match.group(2).splitlines())
    return match.group(1), body + "\n"


@pytest.mark.parametrize("title", ["Settings", "The registry"])
def test_readme_error_examples_print_what_they_say(title: str, tmp_path: Path) -> None:
    """The README's configuration-error examples, run on the file the README shows, print
    exactly those lines (issue 9, defect 6: they had drifted from the program's wording)."""
    name, text = file_example(title)
    (tmp_path / name).write_text(text, encoding="utf-8")
    examples = console_examples(title)
    assert examples, f"README section {title!r} shows no command"
    for command, expected in examples:
        result = run(command, cwd=tmp_path)
        assert result.returncode == 1, result.stdout
        assert result.stdout == ""
        assert result.stderr.strip() == expected.strip(), command
