"""The one rule for text that becomes a tag in the time-series store (device and sensor ids…).

Device ids travel from the decoders through the registry into InfluxDB line protocol, so all
three check them with `tag_text_problem`; what a decoder accepts the store can then carry:

- no control or other non-printable characters (``\\n``, ``\\t``, ``\\x1b``, ``\\u2028``, lone
  surrogates): a line break would end the line and let an id inject a second point or log entry;
- no backslash at the end or before a comma, space or equals sign: InfluxDB (checked against
  1.6.7) would read it as an escape and store something else, or refuse the line.
"""

from __future__ import annotations

import re

__all__ = ["check_tag_text", "tag_text_problem"]

_DANGLING_BACKSLASH = re.compile(r"\\(?:[ ,=]|$)")


def tag_text_problem(value: str) -> str | None:
    """What makes ``value`` unfit for a tag (a phrase such as ``"contains the control character
    '\\n'"``), or ``None`` when it is fine. Emptiness and length are the caller's business."""
    if not value.isprintable():
        bad = next(character for character in value if not character.isprintable())
        kind = "control" if bad <= "\x1f" or "\x7f" <= bad <= "\x9f" else "non-printable"
        return (
            f"contains the {kind} character {bad!r} "
            "(line breaks, control and non-printable characters cannot be stored)"
        )
    if "\\" in value and _DANGLING_BACKSLASH.search(value) is not None:
        return (
            "has a backslash at its end or before a comma, space or equals sign, "
            "which InfluxDB line protocol would read as an escape"
        )
    return None


def check_tag_text(value: str, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` when `tag_text_problem` finds something."""
    problem = tag_text_problem(value)
    if problem is not None:
        raise ValueError(f"{what} {value!r} {problem}")
