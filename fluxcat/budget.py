"""A run's spending cap: work is admitted only while estimated spend fits; shards in threads share one tracker."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

EPSILON = 1e-9


@dataclass
class Budget:
    """Reserve an image's estimated price before submitting it, settle with its actual price after.
    Spent plus reserved never exceeds the limit, so the cap holds while requests are in flight."""

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
        return (f"budget: ${committed:.4f} of --budget-usd ${self.limit_usd:.4f} spent or in flight, this image "
                f"(est. ${cost_usd:.4f}) was not submitted; rerun with a larger --budget-usd to make it")


_budgets: dict[str, Budget] = {}
_lock = threading.Lock()


def budget_for(run_id: str, limit_usd: float) -> Budget:
    """The process-wide tracker of one run (every shard task of the run, in any thread, shares it)."""
    with _lock:
        budget = _budgets.get(run_id)
        if budget is None or budget.limit_usd != limit_usd:
            budget = _budgets[run_id] = Budget(float(limit_usd))
        return budget
