"""One small registry for the extension points (schedulers, searchers, exporters): maps CLI
strings to implementations, refuses duplicates, and names the known keys for unknown ones."""

from __future__ import annotations

from typing import Generic, TypeVar

from perfmodel.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, type[T]] = {}

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: registers `cls` under its `name` attribute."""
        name = cls.name  # type: ignore[attr-defined]
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice ({self._items[name].__name__}, {cls.__name__})")
        self._items[name] = cls
        return cls

    def get(self, name: str) -> type[T]:
        cls = self._items.get(name) or self._items.get(name.lower().replace("-", "_"))
        if cls is None:
            raise UnknownNameError(self.kind, name, sorted(self._items))
        return cls

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items
