"""Task: generate one shard (one task per shard, never per image)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from fluxcat.pipeline import RunOptions, run_one_shard
from tasks.reporting import with_progress_lines
from tasks.runs import run_for


# No Prefect caching or result persistence: the store is the cache (finished shards and images are found by
# content), and hashing the options and the task's source for every shard only costs time.
@task(name="generate-shard", tags=["fluxcat", "fluxcat-generate"], retries=2, retry_delay_seconds=[5, 30],
      task_run_name="{label}", cache_policy=NO_CACHE, persist_result=False)
def generate_shard_task(options: RunOptions, shard: str, label: str = ""):
    """Retrying is safe: finished images are found by content key and never made twice. A shard an earlier run
    finished ends in the state `Reused`, so the UI tells it from a generated one."""
    with run_for(options) as run:
        outcome = run_one_shard(with_progress_lines(run), shard)
    result = {"shard": outcome.shard, "statuses": dict(outcome.statuses), "seconds": outcome.seconds,
              "cost_usd": outcome.cost_usd, "reused": outcome.reused, "remade": outcome.remade}
    if outcome.reused:
        return Completed(name="Reused", message="finished by an earlier run; nothing generated", data=result)
    return result
