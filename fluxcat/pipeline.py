"""A run's stages as plain functions: check the options, open the run's context, plan, run a shard, finish.

    check_options(options)
    with open_run(options) as run:
        shards = [shard.name for shard in plan(run).shards]
        for shard in shards:
            run_one_shard(run, shard)
    finish(options, shards, reused=set())
"""

from __future__ import annotations

from datetime import datetime

from fluxcat.catalog import inspect_catalog
from fluxcat.channels import load_channels, parse_channel_names
from fluxcat.dedupe import check_dedupe_options
from fluxcat.errors import UserError
from fluxcat.generate import ShardOutcome, ShardSettings, request_for_row, run_shard
from fluxcat.manifest import RunSummary, merge_parts
from fluxcat.outputs import OutputOptions
from fluxcat.qa import QaSettings
from fluxcat.reference import load_segmenter
from fluxcat.report import write_index
from fluxcat.runtime import RunContext, make_backend, open_run
from fluxcat.safety import SafetyFilter
from fluxcat.settings import RunOptions, validated
from fluxcat.shards import PlanReport, PlanSettings, plan_catalog
from fluxcat.store import Store

__all__ = ["RunContext", "RunOptions", "check_options", "open_run", "plan", "run_one_shard", "finish"]


def check_options(options: RunOptions, to_send: bool = True) -> str:
    """Fail on bad configuration before any work, with the fix in the message; returns the backend's name (`auto`
    resolved). `to_send=False` (planning, cost estimates) does without what only making images needs (a key)."""
    options = validated(options)  # the settings schema: types, choices, ranges
    check_dedupe_options(options.dedupe, options.dedupe_options)
    QaSettings(retries=options.qa_retries)
    check_reference_options(options)
    backend = make_backend(options)
    try:
        name = backend.name
        if to_send:
            backend.check_ready()
    finally:
        backend.close()
    inspect_catalog(options.catalog, options.storage_options)  # unreadable, not Parquet, no prompt column
    return name


def check_reference_options(options: RunOptions) -> None:
    """The channels file parses, every default channel is known, the segmenter imports: before any work."""
    channels = load_channels(options.channels_file, options.storage_options)
    try:
        parse_channel_names(options.channels, channels)
    except ValueError as error:
        raise UserError(f"channels: {error}") from None
    if options.reference_segmenter:
        load_segmenter(options.reference_segmenter)


def plan(run: RunContext) -> PlanReport:
    options, backend = run.options, run.backend
    settings = PlanSettings(
        model_id=backend.model_id, cost_per_image=lambda row: backend.cost_per_image(request_for_row(row)),
        dedupe=options.dedupe, dedupe_options=options.dedupe_options, shard_size=options.shard_size,
        limit=options.limit, image_format=options.image_format, storage_options=options.storage_options,
        row_checks=backend.row_checks, capabilities=backend.capabilities(),
        safety=SafetyFilter(private_data=options.private_data_check),
        outputs=OutputOptions(reader=run.references, default_mode=options.reference_mode, channels=run.channels,
                              default_channels=tuple(options.channels)),
    )
    report = plan_catalog(options.catalog, run.store, settings)
    run.emit({"planned_rows": sum(shard.rows for shard in report.shards)})
    return report


def run_one_shard(run: RunContext, shard: str) -> ShardOutcome:
    return run_shard(run, shard, ShardSettings.of(run.options))


def finish(options: RunOptions, shards: list[str], reused: set[str], started: datetime | None = None) -> RunSummary:
    store = Store(options.output, options.storage_options)
    summary = merge_parts(store, shards, reused, started)
    write_index(store, summary, title=f"fluxcat: {options.catalog}")
    return summary
