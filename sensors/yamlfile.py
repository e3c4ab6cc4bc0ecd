"""Reading YAML so that every error can name the file, the line and the field.

`parse_yaml` returns the data with a map from each key path to its 1-based line, and refuses
duplicate keys (which PyYAML would silently let the last one win). The registry, the alert rules
and rota, and the settings file all load through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

FieldPath = tuple[str | int, ...]

_MAX_MAPPED_NODES = 200_000  # aliases can make the node tree exponentially big
_MAX_DEPTH = 64


class ConfigError(ValueError):
    """A configuration file is unreadable or invalid; the message names file, line and field."""


def render_path(path: Sequence[str | int]) -> str:
    """``("sites", 0, "rooms")`` → ``sites[0].rooms``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def line_of(lines: Mapping[FieldPath, int], path: Sequence[str | int]) -> int | None:
    """The line of the deepest known prefix of ``path``."""
    probe = tuple(path)
    for end in range(len(probe), -1, -1):
        line = lines.get(probe[:end])
        if line is not None:
            return line
    return None


def map_lines(root: yaml.Node) -> tuple[dict[FieldPath, int], list[tuple[FieldPath, str, int]]]:
    """Line of every key and sequence item by path; duplicate keys found on the way."""
    lines: dict[FieldPath, int] = {(): root.start_mark.line + 1}
    duplicates: list[tuple[FieldPath, str, int]] = []
    stack: list[tuple[yaml.Node, FieldPath]] = [(root, ())]
    visits = 0
    while stack and visits < _MAX_MAPPED_NODES:
        node, path = stack.pop()
        visits += 1
        if len(path) > _MAX_DEPTH:
            continue
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                line = key_node.start_mark.line + 1
                if key in first_line and key != "<<":
                    duplicates.append((path, key, line))
                else:
                    first_line[key] = line
                    lines[(*path, key)] = line
                    stack.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                stack.append((item, (*path, index)))
    return lines, duplicates


def parse_yaml(text: str, source: str) -> tuple[Any, dict[FieldPath, int]]:
    """Parse YAML ``text``; return the data and ``{key path: line}``.

    Raises `ConfigError` naming ``source`` and the line for a syntax error or a duplicate key.
    An empty document gives ``(None, {})``.
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if root is None:
        return None, {}
    lines, duplicates = map_lines(root)
    if duplicates:
        raise ConfigError(
            "\n".join(
                f"{source}:{line}: {render_path((*path, key))}: duplicate key {key!r} "
                f"(first at line {lines[(*path, key)]})"
                for path, key, line in duplicates
            )
        )
    return data, lines


def load_yaml(path: Path) -> tuple[Any, dict[FieldPath, int]]:
    """Read and parse the YAML file at ``path`` (see `parse_yaml`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{path}: cannot read: {reason}") from None
    return parse_yaml(text, str(path))


def format_validation_error(
    file: Path, lines: Mapping[FieldPath, int], prefix: Sequence[str | int], error: ValidationError
) -> ConfigError:
    """One `ConfigError` listing every problem as ``file:line: field: message``."""
    problems = []
    for item in error.errors(include_url=False):
        loc = [*prefix, *(part for part in item["loc"] if isinstance(part, str | int))]
        problems.append(_located(file, lines, loc, item["msg"]))
    return ConfigError("\n".join(problems))


def fail(
    file: Path, lines: Mapping[FieldPath, int], path: Sequence[str | int], message: str
) -> ConfigError:
    """A `ConfigError` for one field."""
    return ConfigError(_located(file, lines, path, message))


def _located(
    file: Path, lines: Mapping[FieldPath, int], path: Sequence[str | int], message: str
) -> str:
    line = line_of(lines, path)
    where = f"{file}:{line}" if line is not None else str(file)
    field = ".".join(str(part) for part in path) or "(top level)"
    return f"{where}: {field}: {message}"
