"""Run a plan's shards on the chosen engine, with per-shard log lines, progress and readable task names."""

from __future__ import annotations

from prefect.futures import as_completed

from flows.runners import shard_runner
from fluxcat import events
from fluxcat.settings import Execution, RunOptions
from tasks.generation import generate_shard_task
from tasks.reporting import ShardProgress, log_shard, shard_label


def run_shards(options: RunOptions, shards: list[dict], execution: Execution) -> list[str]:
    """Run every shard; returns the names of shards an earlier run had finished (reused, nothing made)."""
    if not shards:
        return []
    progress = ShardProgress(options, len(shards))
    in_process = execution.task_runner == "threads"  # worker processes' events never reach this process's bus
    rows = {shard["name"]: shard.get("rows") for shard in shards}
    reused = []
    with shard_runner(execution.task_runner, options.backend, execution.cluster_address or None,
                      execution.workers) as submit:
        futures = submit(generate_shard_task, options, [s["name"] for s in shards], [shard_label(s) for s in shards])
        for future in as_completed(futures):
            outcome = future.result()
            reused += [outcome["shard"]] if outcome["reused"] else []
            if not in_process:
                events.emit({"shard": outcome["shard"],
                             "rows_done": rows[outcome["shard"]] or sum(outcome["statuses"].values())})
            log_shard(outcome)
            progress.shard_done()
    return reused
