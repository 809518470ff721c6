"""A run's stages as plain functions over serialisable arguments: check, plan, run a shard, finish."""

from __future__ import annotations

from datetime import datetime

from fluxcat import events
from fluxcat.backends import get_backend
from fluxcat.backends.base import Backend, BackendConfigError
from fluxcat.catalog import inspect_catalog
from fluxcat.dedupe import check_dedupe_options
from fluxcat.generate import ShardOutcome, request_for_row, run_shard
from fluxcat.manifest import RunSummary, merge_parts
from fluxcat.qa import QaSettings
from fluxcat.report import write_index
from fluxcat.safety import SafetyFilter
from fluxcat.settings import RunOptions, validated
from fluxcat.shards import PlanReport, PlanSettings, plan_catalog
from fluxcat.store import Store

__all__ = ["RunOptions", "check_options", "plan", "run_one_shard", "finish"]


def check_options(options: RunOptions) -> Backend:
    """Fail on bad configuration before any work, with the fix in the message; returns the backend."""
    options = validated(options)  # the settings schema: types, choices, ranges
    check_dedupe_options(options.dedupe, options.dedupe_options)
    try:
        backend = get_backend(options.backend, options.backend_settings())
    except TypeError as error:  # an option the backend does not take
        raise BackendConfigError(f"backend {options.backend!r} does not accept these options: {error}") from None
    inspect_catalog(options.catalog, options.storage_options)  # unreadable, not Parquet, no prompt column
    return backend


def plan(options: RunOptions) -> PlanReport:
    backend = check_options(options)
    store = Store(options.output, options.storage_options)
    settings = PlanSettings(
        model_id=backend.model_id, cost_per_image=lambda row: backend.cost_per_image(request_for_row(row)),
        dedupe=options.dedupe, dedupe_options=options.dedupe_options, shard_size=options.shard_size,
        limit=options.limit, image_format=options.image_format, storage_options=options.storage_options,
        row_checks=backend.row_checks, capabilities=backend.capabilities(),
        safety=SafetyFilter(private_data=options.private_data_check),
    )
    report = plan_catalog(options.catalog, store, settings)
    events.emit({"planned_rows": sum(shard.rows for shard in report.shards)})
    return report


def run_one_shard(options: RunOptions, shard: str) -> ShardOutcome:
    backend = get_backend(options.backend, options.backend_settings())
    store = Store(options.output, options.storage_options)
    backend.attach_store(store)  # hosted backends keep quota usage and submitted jobs there
    budget = None
    if options.budget_usd is not None:
        from fluxcat.budget import budget_for

        budget = budget_for(options.run_id or options.output, options.budget_usd)
    qa = None
    if options.qa:
        from fluxcat.qa.stage import ShardQa

        qa = ShardQa(QaSettings(retries=options.qa_retries), backend.model_id)
    return run_shard(store, shard, backend, options.image_format, options.retry_failed, on_event=events.emit,
                     budget=budget, qa=qa)


def finish(options: RunOptions, shards: list[str], reused: set[str], started: datetime | None = None) -> RunSummary:
    store = Store(options.output, options.storage_options)
    summary = merge_parts(store, shards, reused, started)
    write_index(store, summary, title=f"fluxcat: {options.catalog}")
    return summary
