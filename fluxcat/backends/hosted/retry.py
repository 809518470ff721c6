"""When to try again: Retry-After (header or a provider's "resets in ~30s" text), backoff, and the circuit breaker."""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Callable

# Replicate's 429 has no Retry-After; its body says e.g. "Your rate limit resets in ~30s."
RESETS_IN = re.compile(r"resets? in ~?\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?|m|min|minutes?)\b", re.IGNORECASE)


def retry_after_from_text(text: str | None) -> float | None:
    """Seconds to wait as a provider's error text states them ("resets in ~30s"), or None."""
    match = RESETS_IN.search(text or "")
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2).lower()
    return value / 1000 if unit == "ms" else value * 60 if unit.startswith("m") else value


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed call is tried again."""

    max_attempts: int = 4
    backoff_base: float = 1.0   # first backoff in seconds; doubles per attempt
    backoff_max: float = 30.0
    max_retry_after: float = 120.0  # a provider asking for a longer wait fails the image instead

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter for the given (1-based) failed attempt."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


# ---------------------------------------------------------------- circuit breaker

class CircuitBreaker:
    """The guide's breaker: closed -> open after `threshold` consecutive failures -> half-open after
    `reset_seconds` (one probe at a time) -> closed on a success, open again on a failure. Thread-safe."""

    def __init__(self, threshold: int = 5, reset_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.threshold, self.reset_seconds, self.clock = threshold, reset_seconds, clock
        self.failures = 0
        self.opened_at = 0.0
        self._state = "closed"
        self._probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._peek()

    def _peek(self) -> str:
        if self._state == "open" and self.clock() - self.opened_at >= self.reset_seconds:
            return "half-open"
        return self._state

    def allow(self) -> bool:
        """May a request go out now? In half-open, only one probe is let through until it reports."""
        with self._lock:
            state = self._peek()
            if state == "closed":
                return True
            if state == "half-open" and not self._probing:
                self._state, self._probing = "half-open", True
                return True
            return False

    def retry_in(self) -> float:
        with self._lock:
            return max(0.0, self.reset_seconds - (self.clock() - self.opened_at))

    def record_success(self) -> None:
        with self._lock:
            self._state, self.failures, self._probing = "closed", 0, False

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self._state == "half-open" or self.failures >= self.threshold:
                self._state, self.opened_at = "open", self.clock()
            self._probing = False

    def trip(self) -> None:
        """Open now: the provider said no request can succeed for a while (no credit, bad key, endpoint gone)."""
        with self._lock:
            self.failures = max(self.failures + 1, self.threshold)
            self._state, self.opened_at, self._probing = "open", self.clock(), False

    def release_probe(self) -> None:
        """A probe that ended without a verdict on the provider (e.g. a 400 for one prompt)."""
        with self._lock:
            self._probing = False
