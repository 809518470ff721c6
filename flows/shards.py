"""Run a plan's shards on the chosen engine, with per-shard log lines, progress and readable task names."""

from __future__ import annotations

from collections import deque
from typing import Iterator

from prefect.futures import as_completed

from flows.runners import Submit, shard_runner
from fluxcat import events
from fluxcat.budget import Budget
from fluxcat.settings import Execution, RunOptions
from tasks.generation import BudgetShare, generate_shard_task
from tasks.reporting import ShardProgress, log_shard, shard_label
from tasks.runs import run_for


def _flow_budget(options: RunOptions):
    """The flow's own Budget (the flow opened the run's context and keeps it open until the run ends)."""
    with run_for(options) as run:
        return run.budget


def run_shards(options: RunOptions, shards: list[dict], execution: Execution) -> list[str]:
    """Run every shard; returns the names of shards an earlier run had finished (reused, nothing made)."""
    if not shards:
        return []
    progress = ShardProgress(options, len(shards))
    in_process = execution.task_runner == "threads"  # worker processes' events never reach this process's bus
    rows = {shard["name"]: shard.get("rows") for shard in shards}
    # Threads share the flow's Budget; worker processes cannot, so the flow allots each shard a share of it.
    budget = None if in_process else _flow_budget(options)
    reused = []
    with shard_runner(execution.task_runner, options.backend, execution.cluster_address or None,
                      execution.workers) as submit:
        for outcome in _budgeted(submit, options, shards, budget) if budget else _all(submit, options, shards):
            reused += [outcome["shard"]] if outcome["reused"] else []
            if not in_process:
                events.emit({"shard": outcome["shard"],
                             "rows_done": rows[outcome["shard"]] or sum(outcome["statuses"].values())})
            log_shard(outcome)
            progress.shard_done()
    return reused


def _all(submit: Submit, options: RunOptions, shards: list[dict]) -> Iterator[dict]:
    """Every shard submitted at once; outcomes as they finish."""
    futures = submit(generate_shard_task, options, [s["name"] for s in shards], [shard_label(s) for s in shards])
    for future in as_completed(futures):
        yield future.result()


def _budgeted(submit: Submit, options: RunOptions, shards: list[dict], budget: Budget) -> Iterator[dict]:
    """Each shard spends only its share of the run's budget, reserved in the flow's Budget as it is submitted and
    settled to what it spent when it ends, so what a shard leaves goes to the shards submitted after it. Only as
    many shards are submitted as the engine runs at once: a share handed to a queued shard would wait with it."""
    waiting = deque(shards)
    needs_left = sum(worst_case(shard) for shard in shards)
    running: dict = {}  # future -> the share it holds
    while waiting or running:
        slots = submit.slots()  # read again as shards finish: a cluster may grow
        while waiting and len(running) < slots:
            shard = waiting.popleft()
            available = max(0.0, budget.limit_usd - budget.spent_usd - budget.reserved_usd)
            share = allot(available, worst_case(shard), needs_left, min(len(waiting) + 1, slots - len(running)))
            needs_left -= worst_case(shard)
            share = share if budget.admit(share) else 0.0
            [future] = submit(generate_shard_task, options, [shard["name"]], [shard_label(shard)],
                              budget=[BudgetShare(share, budget.limit_usd)])
            running[future] = share
        future = next(as_completed(list(running)))
        outcome = future.result()  # a shard that failed for good keeps its share reserved: what it spent is unknown
        budget.settle(running.pop(future), outcome["budget_spent_usd"])
        yield outcome


def worst_case(shard: dict) -> float:
    """What a shard's images cost at most (the plan's worst-case prices); 0 for a shard known by name only (a
    refresh's), and when no shard's cost is known the budget is shared equally by the shards running at once."""
    return float(shard.get("est_cost_usd") or 0.0)


def allot(available: float, need: float, needs_left: float, shards_left: int) -> float:
    """A shard's share of the budget still available (`needs_left`: the worst-case cost of the shards not yet
    submitted, itself included). When that covers them all, each gets its worst case scaled up by the same factor:
    room for its QA retries. When it does not, each in turn gets its whole worst case while the budget lasts, as
    threads drawing on one budget would: shares split in proportion would each fall short of an image's price
    and make nothing. With no price known, equal parts among the `shards_left` that run at once."""
    if needs_left <= 0:
        return available / max(1, shards_left)
    return min(available, max(0.0, need) * max(1.0, available / needs_left))
