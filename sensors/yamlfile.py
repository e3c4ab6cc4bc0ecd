"""Configuration files: the one YAML loader, the one kind of located problem, the one way to
print it.

Every file a user writes — the settings, the registry, the alert rules, the rota — loads through
here, and every problem found in one is an `Issue`: where (the file, or the environment variable
that gave the value, and the line) and what (the field's path and the reason). It prints as
``file:line: field: reason``, the form editors and CI logs link to, and the same mistake reads
the same in every file: an unknown key is ``unknown key (did you mean 'silent_factor'?)``
whichever file it is in.

- `parse_yaml` / `load_yaml` return the data with a map from each key path to its 1-based line,
  and refuse duplicate keys (which PyYAML would silently let the last one win).
- `validate` / `load_model` validate data with a pydantic model and turn its errors into issues;
  `issues_from` is the one translation from pydantic's errors to issues.
- `FieldIssuesError` lets a model validator report problems at fields below it (a duplicate id at
  the item that repeats it, with the line of the first).
- `ConfigError` carries the issues; its text is one issue per line.
- `TimeZoneName` is the field type of a time zone, so a misspelt zone reads the same in the
  registry and the rota.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

FieldPath = tuple[str | int, ...]
Locate = Callable[[FieldPath], tuple[str | None, int | None]]
"""Where the value at a field path came from: (file or environment variable, line)."""
ModelT = TypeVar("ModelT", bound=BaseModel)

_MAX_MAPPED_NODES = 200_000  # aliases can make the node tree exponentially big
_MAX_DEPTH = 64
_MAX_LISTED_KEYS = 12


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a configuration: where it is and what is wrong."""

    source: str | None
    """The file, or the environment variable that gave the value; None for a built-in default."""
    line: int | None
    """1-based line in ``source``, when it is a file and the line is known."""
    field: str
    """The field's path (``sites[0].rooms[1].profile``); empty for the whole document."""
    reason: str

    def __str__(self) -> str:
        where = self.source or ""
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        return ": ".join(part for part in (where, self.field, self.reason) if part)


class ConfigError(ValueError):
    """A configuration that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: Issue | Sequence[Issue]) -> None:
        self.issues: list[Issue] = [issues] if isinstance(issues, Issue) else list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class FieldIssuesError(ValueError):
    """Raised by a model validator: problems at fields below the model, as (path relative to
    the model, reason, path of an earlier occurrence or None)."""

    def __init__(self, problems: list[tuple[FieldPath, str, FieldPath | None]]) -> None:
        super().__init__("; ".join(f"{render_path(p)}: {m}" for p, m, _ in problems))
        self.problems = problems


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


def issue_at(
    source: str | Path | None, lines: Mapping[FieldPath, int], path: FieldPath, reason: str
) -> Issue:
    """The issue ``reason`` at field ``path`` of ``source``, on the line the field is on."""
    return Issue(
        None if source is None else str(source), line_of(lines, path), render_path(path), reason
    )


def check_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone this system knows; ValueError saying so if not."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as 'Europe/London')"
        ) from exc
    return name


TimeZoneName = Annotated[str, AfterValidator(check_time_zone)]
"""A configuration field holding an IANA time zone name."""


# ----- YAML ------------------------------------------------------------------------------------


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
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(Issue(source, line, "", f"invalid YAML: {problem}")) from None
    except yaml.YAMLError as exc:
        raise ConfigError(Issue(source, None, "", f"invalid YAML: {exc}")) from None
    finally:
        loader.dispose()
    if root is None:
        return None, {}
    lines, duplicates = map_lines(root)
    if duplicates:
        raise ConfigError(
            [
                Issue(
                    source,
                    line,
                    render_path((*path, key)),
                    f"duplicate key {key!r} (first at line {lines[(*path, key)]})",
                )
                for path, key, line in duplicates
            ]
        )
    return data, lines


def load_yaml(path: Path) -> tuple[Any, dict[FieldPath, int]]:
    """Read and parse the YAML file at ``path`` (see `parse_yaml`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(Issue(str(path), None, "", "file not found")) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(Issue(str(path), None, "", f"cannot read: {reason}")) from None
    return parse_yaml(text, str(path))


# ----- validation ------------------------------------------------------------------------------


def load_model(path: Path, model: type[ModelT], *, what: str) -> ModelT:
    """Load the YAML file at ``path`` and validate it as ``model``; an empty file is an empty
    mapping. ``what`` names the file in the message for a document that is not a mapping
    (``"the rota file"``). Raises `ConfigError`."""
    data, lines = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(issue_at(path, lines, (), f"{what} must be a mapping of keys"))
    return validate(model, data, source=str(path), lines=lines)


def validate(
    model: type[ModelT],
    data: Any,
    *,
    source: str | None,
    lines: Mapping[FieldPath, int],
    prefix: FieldPath = (),
) -> ModelT:
    """``model.model_validate(data)``, its errors raised as one `ConfigError` (see
    `issues_from`); ``prefix`` is where ``data`` sits in the file."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            issues_from(exc, model, source=source, lines=lines, prefix=prefix)
        ) from None


def issues_from(
    error: ValidationError,
    model: type[BaseModel],
    *,
    source: str | None = None,
    lines: Mapping[FieldPath, int] | None = None,
    prefix: FieldPath = (),
    locate: Locate | None = None,
) -> list[Issue]:
    """Every error of a pydantic validation of ``model`` as an `Issue`, in line order.

    The one translation from pydantic's wording: an unknown key is ``unknown key`` with the
    closest known key (or the known keys), pydantic's ``Value error,`` prefix is dropped, and
    `FieldIssuesError` raised by a validator become issues at their own fields. Each issue is
    placed by ``locate`` when given (the settings: environment variable or file line), else on
    the line of ``lines`` in ``source``.
    """
    known_lines: Mapping[FieldPath, int] = lines or {}

    def place(path: FieldPath) -> tuple[str | None, int | None]:
        if locate is not None:
            return locate(path)
        return source, line_of(known_lines, path)

    issues: list[Issue] = []
    for item in error.errors(include_url=False):
        loc: FieldPath = tuple(item["loc"])
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, FieldIssuesError):
            for path, reason, first in cause.problems:
                full = (*prefix, *loc, *path)
                if first is not None:
                    first_full = (*prefix, *loc, *first)
                    first_line = place(first_full)[1]
                    at = f"line {first_line}, " if first_line is not None else ""
                    reason = f"{reason} (first at {at}{render_path(first_full)})"
                issues.append(Issue(*place(full), render_path(full), reason))
            continue
        full = (*prefix, *loc)
        issues.append(Issue(*place(full), render_path(full), _reason(item, model, loc)))
    # Files in line order; values from environment variables (no line) after them.
    issues.sort(key=lambda issue: (issue.line is None, issue.source or "", issue.line or 0))
    return issues


def _reason(item: Mapping[str, Any], model: type[BaseModel], loc: FieldPath) -> str:
    kind = item["type"]
    if kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
        return unknown_key(loc[-1], _keys_at(model, loc[:-1]))
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping of keys, got {_kind_of(item.get('input'))}"
    message = str(item["msg"])
    for noise in ("Value error, ", "Assertion failed, "):
        if message.startswith(noise):
            return message[len(noise) :]
    return message


def unknown_key(key: str, known: Sequence[str] | None) -> str:
    """``unknown key (did you mean 'x'?)``, or the known keys when none is close."""
    if not known:
        return "unknown key"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    if len(known) <= _MAX_LISTED_KEYS:
        return f"unknown key (known keys: {', '.join(known)})"
    return "unknown key"


def _kind_of(value: object) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "nothing" if value is None else type(value).__name__


def _keys_at(model: type[BaseModel], path: FieldPath) -> list[str] | None:
    """The keys the model found at ``path`` below ``model`` accepts (aliases where set)."""
    annotations: list[Any] = [model]
    for part in path:
        annotations = [step for a in annotations for step in _step(a, part)]
    for annotation in annotations:
        for candidate in _members(annotation):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                return [
                    info.alias or name
                    for name, info in candidate.model_fields.items()
                    if not info.exclude
                ]
    return None


def _step(annotation: Any, part: str | int) -> list[Any]:
    """The annotations of what sits at ``part`` inside a value of type ``annotation``."""
    found: list[Any] = []
    for candidate in _members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if isinstance(part, str):
                for name, info in candidate.model_fields.items():
                    if part in (name, info.alias):
                        found.append(info.annotation)
            continue
        origin = typing.get_origin(candidate)
        args = typing.get_args(candidate)
        if origin is dict and len(args) == 2:
            found.append(args[1])
        elif origin in (list, tuple, set, frozenset) and args and isinstance(part, int):
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                if part < len(args):
                    found.append(args[part])
            else:
                found.append(args[0])
    return found


def _members(annotation: Any) -> list[Any]:
    """``annotation`` with unions and ``Annotated`` unpacked."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return [annotation]
