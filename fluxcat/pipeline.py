"""A run's stages as plain functions over serialisable arguments: check, plan, run a shard, finish."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fluxcat import events
from fluxcat.backends import get_backend
from fluxcat.backends.base import Backend, BackendConfigError
from fluxcat.catalog import inspect_catalog
from fluxcat.dedupe import DEDUPE_MODES, check_dedupe_options
from fluxcat.generate import ShardOutcome, request_for_row, run_shard
from fluxcat.manifest import RunSummary, merge_parts
from fluxcat.qa import QaSettings
from fluxcat.report import write_index
from fluxcat.shards import DEFAULT_SHARD_SIZE, PlanReport, PlanSettings, plan_catalog
from fluxcat.store import IMAGE_FORMATS, Store


@dataclass
class RunOptions:
    """Everything a run is configured by; flows and the CLI build one and pass its fields to tasks."""

    catalog: str
    output: str
    backend: str = "auto"
    backend_options: dict = field(default_factory=dict)
    dedupe: str = "exact"
    dedupe_options: dict = field(default_factory=dict)
    shard_size: int = DEFAULT_SHARD_SIZE
    limit: int | None = None
    image_format: str = "png"
    retry_failed: bool = False
    budget_usd: float | None = None  # stop submitting once estimated spend would pass this; the rest is `skipped`
    run_id: str = ""  # names the run's shared budget tracker (the flow sets a fresh one per run)
    storage_options: dict = field(default_factory=dict, repr=False)  # secrets: kept out of reprs and logs
    qa: bool = True  # check each new image (text, blank, colour) and reseed what a new seed can fix
    qa_retries: int = 2


def check_options(options: RunOptions) -> Backend:
    """Fail on bad configuration before any work, with the fix in the message; returns the backend."""
    if options.dedupe not in DEDUPE_MODES:
        raise ValueError(f"dedupe must be one of {', '.join(DEDUPE_MODES)}, got {options.dedupe!r}")
    check_dedupe_options(options.dedupe, options.dedupe_options)
    if options.image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {options.image_format!r}")
    if options.shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {options.shard_size}")
    if options.limit is not None and options.limit < 0:
        raise ValueError(f"limit must be 0 or more, got {options.limit}")
    QaSettings(retries=options.qa_retries)  # raises on a bad value
    if options.budget_usd is not None and not options.budget_usd >= 0:
        raise ValueError(f"budget_usd must be 0 or more dollars, got {options.budget_usd}")
    try:
        backend = get_backend(options.backend, options.backend_options)
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
    )
    report = plan_catalog(options.catalog, store, settings)
    events.emit({"planned_rows": sum(shard.rows for shard in report.shards)})
    return report


def run_one_shard(options: RunOptions, shard: str) -> ShardOutcome:
    backend = get_backend(options.backend, options.backend_options)
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
