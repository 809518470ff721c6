"""Tasks: compare a catalog with the latest manifest, and publish a refresh's manifest, counts and changed ids."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from fluxcat.pipeline import RunOptions
from fluxcat.refresh import LISTED, finish_refresh, prepare_refresh
from fluxcat.store import Store
from tasks.reporting import publish_table


@task(name="compare-with-manifest", tags=["fluxcat"])
def prepare_refresh_task(options: RunOptions, plan_shards: list[str], ids: list[str] | None) -> dict:
    store = Store(options.output, options.storage_options)
    return prepare_refresh(store, plan_shards, options.image_format, ids).to_dict()


@task(name="finish-refresh", tags=["fluxcat"])
def finish_refresh_task(options: RunOptions, token: str, plan_shards: list[str], work_shards: list[str],
                        prune: bool, started: datetime) -> dict:
    store = Store(options.output, options.storage_options)
    summary = finish_refresh(store, token, plan_shards, work_shards, prune, started, title=f"fluxcat refresh: {options.catalog}")
    publish_table("refresh", options.output, summary.table(),
                  f"refresh of {options.output} from {options.catalog}: catalog rows added / changed / "
                  "missing (regenerated), unchanged, removed, not selected; images by outcome")
    publish_table("refresh-changes", options.output, summary.changes_table(),
                  f"refresh of {options.output}: each id regenerated or removed, why, and what its images ended as "
                  f"(the first {LISTED}; unchanged ids are not listed)")
    return {"counts": summary.counts, "made": dict(summary.made), "statuses": dict(summary.run.statuses),
            "rows": summary.run.rows,
            "pruned_images": summary.pruned_images, "manifest": summary.run.manifest_uri,
            "history": summary.run.history_uri}
