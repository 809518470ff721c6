"""One object per output store in a process (quota ledgers, job journals), shared by every shard's thread."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Generic, TypeVar

if TYPE_CHECKING:
    from fluxcat.store import Store

T = TypeVar("T")


class PerStore(Generic[T]):
    """`registry(store)` is the process's object for that store URL (an in-memory one for None)."""

    def __init__(self, factory: Callable[["Store | None"], T]):
        self.factory = factory
        self._objects: dict[str, T] = {}
        self._lock = threading.Lock()

    def __call__(self, store: "Store | None") -> T:
        key = "" if store is None else store.url
        with self._lock:
            if key not in self._objects:
                self._objects[key] = self.factory(store)
            return self._objects[key]

    def clear(self) -> None:
        """Forget every object, as a new process would start."""
        with self._lock:
            self._objects.clear()
