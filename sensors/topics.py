"""MQTT topic-filter algebra shared by the collector and the registry.

`check_topic_filter` validates a filter (``+`` a whole level, ``#`` a whole last level);
`topic_matches` matches a topic against a filter; `filter_covers` says whether one filter matches
everything another does; `covering_filters` keeps the filters not covered by another, so that a
client subscribing to overlapping routes gets each message once.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["check_topic_filter", "covering_filters", "filter_covers", "topic_matches"]


def check_topic_filter(value: str) -> str:
    """``value`` if it is a valid MQTT topic filter; raises `ValueError` saying what is wrong."""
    if not value or "\x00" in value:
        raise ValueError("an MQTT topic filter must be a non-empty string")
    levels = value.split("/")
    for position, level in enumerate(levels):
        if "#" in level and (level != "#" or position != len(levels) - 1):
            raise ValueError(f"'#' must be a whole level and the last one in {value!r}")
        if "+" in level and level != "+":
            raise ValueError(f"'+' must be a whole level in {value!r}")
    return value


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether MQTT ``topic`` matches ``topic_filter`` (``+`` one level, ``#`` the rest).

    As in MQTT, wildcards at the first level do not match topics starting with ``$``.
    """
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for position, wanted in enumerate(filter_levels):
        if wanted == "#":
            return True
        if position >= len(topic_levels):
            return False
        if wanted != "+" and wanted != topic_levels[position]:
            return False
    return len(filter_levels) == len(topic_levels)


def filter_covers(wide: str, narrow: str) -> bool:
    """Whether every topic MQTT filter ``narrow`` matches is also matched by filter ``wide``."""
    if narrow.startswith("$") and wide[:1] in ("+", "#"):
        return False
    wide_levels = wide.split("/")
    narrow_levels = narrow.split("/")
    for index, level in enumerate(wide_levels):
        if level == "#":
            return True
        if index >= len(narrow_levels) or narrow_levels[index] == "#":
            return False
        if level != "+" and level != narrow_levels[index]:
            return False
    return len(wide_levels) == len(narrow_levels)


def covering_filters(filters: Sequence[str]) -> list[str]:
    """The filters to subscribe to: those not covered by another (first of equal ones kept).

    Routes may overlap (``repoclimate/+/lines`` for line protocol before ``repoclimate/#``);
    subscribing to both would make brokers deliver such messages twice.
    """
    kept: list[str] = []
    for index, candidate in enumerate(filters):
        covered = any(
            filter_covers(other, candidate) and (not filter_covers(candidate, other) or j < index)
            for j, other in enumerate(filters)
            if j != index
        )
        if not covered:
            kept.append(candidate)
    return kept
