"""A run's spending cap: an image is submitted only while its worst-case price fits; the run's shards share one."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

EPSILON = 1e-9


@dataclass
class Budget:
    """Reserve an image's worst-case price before submitting it (a router: its dearest provider able to make it),
    settle to the price actually charged after. Spent plus reserved never exceeds the limit, so the cap holds while
    requests are in flight, whichever provider serves them. One per run, in its RunContext."""

    limit_usd: float
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def admit(self, cost_usd: float) -> bool:
        with self._lock:
            if self.spent_usd + self.reserved_usd + cost_usd > self.limit_usd + EPSILON:
                return False
            self.reserved_usd += cost_usd
            return True

    def settle(self, reserved_usd: float, actual_usd: float) -> None:
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reserved_usd)
            self.spent_usd += actual_usd

    def skip_reason(self, cost_usd: float) -> str:
        with self._lock:
            committed = self.spent_usd + self.reserved_usd
        return (f"budget: ${committed:.4f} of {self.cap()} spent or in flight, this image "
                f"(up to ${cost_usd:.4f}) was not submitted; rerun with a larger --budget-usd to make it")

    def cap(self) -> str:
        """The limit as a skip reason names it."""
        return f"--budget-usd ${self.limit_usd:.4f}"
