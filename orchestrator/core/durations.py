"""Durations in YAML: a number of seconds or a string such as `90s`, `5m`, `1h30m`, `2d`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a `1h30m`-style string; ValueError naming the bad value."""
    if isinstance(value, bool):  # pydantic reports ValueError (not TypeError) as a field error
        raise ValueError(f"not a duration: {value!r}")  # noqa: TRY004
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        if _PART.sub("", text):
            raise ValueError(f"not a duration: {value!r} (use seconds or e.g. 90s, 5m, 1h30m)")
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    else:
        raise ValueError(f"not a duration: {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must be >= 0, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A pydantic field type: seconds, parsed from a number or a duration string."""
