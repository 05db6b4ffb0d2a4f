"""The base of every configuration section (frozen, unknown keys refused), and the one way a
validation error becomes a message: the key it is about and the reason."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def problem(exc: ValidationError, prefix: str = "") -> tuple[str, str]:
    """The first error as (dotted key under `prefix`, "" for the document itself; reason): an
    unknown key says so, a validator's message comes without pydantic's "Value error, "."""
    error = exc.errors()[0]
    key = ".".join(part for part in (prefix, *map(str, error["loc"])) if part)
    reason = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
    return key, reason.removeprefix("Value error, ")
