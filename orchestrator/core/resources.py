"""Typed keys for the resources actions use: `ctx.resource(KEY)` returns the key's type.

A key is declared once, beside the code that builds its resource (the family that builds it;
the object stores where the process opens them), and the builders add their resources under
the same keys, so mypy checks both the lookups and what is put under each key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


@dataclass(frozen=True)
class ResourceKey(Generic[T]):
    """The name of a resource of type T (`OBJECTSTORE: ResourceKey[ObjectStore]`)."""

    name: str

    def __str__(self) -> str:
        return self.name


class Resources:
    """Resources by key; immutable (`add` returns a new set), so one set is shared by every
    job of an environment."""

    def __init__(self) -> None:
        self._values: dict[ResourceKey[Any], object] = {}

    def add(self, key: ResourceKey[T], value: T) -> Resources:
        return self._with({key: value})

    def merged(self, other: Resources) -> Resources:
        """Both sets; where both have a key, `other`'s resource."""
        return self._with(other._values)

    def get(self, key: ResourceKey[T]) -> T | None:
        return cast("T | None", self._values.get(key))

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[ResourceKey[Any]]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def _with(self, values: dict[ResourceKey[Any], object]) -> Resources:
        added = Resources()
        added._values = {**self._values, **values}
        return added
