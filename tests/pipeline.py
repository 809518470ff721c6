"""A whole run through the core, without Prefect: the stages the flow's tasks call, in one RunContext."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fluxcat.pipeline import RunOptions, finish, open_run, plan, run_one_shard


def run_catalog(options: RunOptions, threads: int = 1, on_run=None, backend=None):
    """plan -> every shard (in `threads` threads, as the flow's ThreadPoolTaskRunner) -> finish; returns
    (plan report, run summary, shard outcomes). `on_run(run)` sees the RunContext before it is closed; `backend`
    is an instance to run instead of the one the options name."""
    with open_run(options, backend=backend) as run:
        report = plan(run)
        shards = [shard.name for shard in report.shards]
        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(lambda shard: run_one_shard(run, shard), shards))
        if on_run is not None:
            on_run(run)
    summary = finish(options, shards, {outcome.shard for outcome in outcomes if outcome.reused})
    return report, summary, outcomes


def refresh_catalog(options: RunOptions, ids=None, prune: bool = False):
    """The refresh flow's steps in one run's context; returns (refresh plan, refresh summary)."""
    from fluxcat.refresh import finish_refresh, prepare_refresh

    with open_run(options) as run:
        plan_shards = [shard.name for shard in plan(run).shards]
        work = prepare_refresh(run.store, plan_shards, options.image_format, ids)
        for shard in work.work_shards:
            run_one_shard(run, shard)
    return work, finish_refresh(run.store, work.token, plan_shards, work.work_shards, prune)
