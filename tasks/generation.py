"""Task: generate one shard (one task per shard, never per image)."""

from __future__ import annotations

import dataclasses

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from fluxcat.budget import Budget
from fluxcat.pipeline import RunOptions, run_one_shard
from tasks.reporting import with_progress_lines
from tasks.runs import run_for


@dataclasses.dataclass
class ShareBudget(Budget):
    """A shard's share of the run's budget, spent like the run's own: its skip reason names the share and the cap."""

    run_limit_usd: float = 0.0

    def cap(self) -> str:
        return f"this shard's ${self.limit_usd:.4f} share of --budget-usd ${self.run_limit_usd:.4f}"


class BudgetShare:
    """What the flow allots a shard of the run's budget when its tasks run in other processes (Dask, Ray), which
    cannot share the flow's Budget. Travels with the task as a parameter; where the shard runs, one ShareBudget spends
    it, kept across the task's retries (Prefect resolves a task run's parameters once), so a retry spends only what
    the earlier attempts left."""

    def __init__(self, share_usd: float, limit_usd: float):
        self.share_usd, self.limit_usd = share_usd, limit_usd
        self._budget: ShareBudget | None = None

    def __getstate__(self) -> dict:  # the Budget (and its lock) is built where the shard runs
        return {"share_usd": self.share_usd, "limit_usd": self.limit_usd}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        return f"BudgetShare(${self.share_usd:.4f} of ${self.limit_usd:.4f})"

    def budget(self) -> ShareBudget:
        if self._budget is None:
            self._budget = ShareBudget(self.share_usd, run_limit_usd=self.limit_usd)
        return self._budget


# No Prefect caching or result persistence: the store is the cache (finished shards and images are found by
# content), and hashing the options and the task's source for every shard only costs time.
@task(name="generate-shard", tags=["fluxcat", "fluxcat-generate"], retries=2, retry_delay_seconds=[5, 30],
      task_run_name="{label}", cache_policy=NO_CACHE, persist_result=False)
def generate_shard_task(options: RunOptions, shard: str, label: str = "", budget: BudgetShare | None = None):
    """Retrying is safe: finished images are found by content key and never made twice. A shard an earlier run
    finished ends in the state `Reused`, so the UI tells it from a generated one. With `budget` (a cluster run under
    --budget-usd) the shard spends only its share, and its result says how much of it was spent."""
    with run_for(options) as run:
        if budget is not None:
            run = dataclasses.replace(run, budget=budget.budget())
        outcome = run_one_shard(with_progress_lines(run), shard)
    result = {"shard": outcome.shard, "statuses": dict(outcome.statuses), "seconds": outcome.seconds,
              "cost_usd": outcome.cost_usd, "reused": outcome.reused, "remade": outcome.remade,
              "budget_spent_usd": budget.budget().spent_usd if budget is not None else None}
    if outcome.reused:
        return Completed(name="Reused", message="finished by an earlier run; nothing generated", data=result)
    return result
