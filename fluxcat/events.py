"""In-process progress events: the core emits, a CLI or a flow listens; nothing is sent anywhere else."""

from __future__ import annotations

import threading
from typing import Callable

_listeners: list[Callable[[dict], None]] = []
_lock = threading.Lock()


def subscribe(listener: Callable[[dict], None]) -> Callable[[], None]:
    """Add a listener; returns the function that removes it."""
    with _lock:
        _listeners.append(listener)
    return lambda: unsubscribe(listener)


def unsubscribe(listener: Callable[[dict], None]) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def emit(event: dict) -> None:
    for listener in list(_listeners):
        listener(event)
