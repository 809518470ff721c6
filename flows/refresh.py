"""Flow: refresh an image catalog in place: regenerate only rows that are new, changed or missing their image."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from flows.paths import check_deployment_paths
from flows.runners import check_task_runner
from flows.shards import run_shards
from fluxcat.errors import configuration_checks
from fluxcat.settings import Backend, Dedupe, Execution, Images, References, RefreshScope, RunOptions, Storage, section
from tasks.output_access import hold_output, storage_options_for
from tasks.outcome import ends_cleanly
from tasks.planning import check_config, plan_catalog
from tasks.refresh import finish_refresh_task, prepare_refresh_task
from tasks.reporting import core_logs_to_run, publish_plan
from tasks.runs import final_state, run_context


@flow(name="refresh-assets", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=True)
def refresh_assets(
    catalog: str,
    output: str,
    scope: RefreshScope = section(RefreshScope),  # the group's defaults, under its title in the form
    images: Images = section(Images),
    references: References = section(References),
    dedupe: Dedupe = section(Dedupe),
    backend: Backend = section(Backend),
    storage: Storage = section(Storage),
    execution: Execution = section(Execution),
) -> dict:
    """Bring an output up to date with today's catalog.

    Rows are compared with the latest manifest at the output by id: new ids, ids whose generation inputs
    changed (prompt or any planned parameter) and ids whose image is missing from storage are regenerated;
    unchanged rows are carried over untouched; ids gone from the catalog leave the manifest. The previous
    manifest stays under manifests/. Counts are published as the refresh artifact. Settings and their defaults
    are the generate-catalog flow's, so a refresh plans exactly the keys a run of the same catalog made.

    Args:
        catalog: Parquet catalog URL (local path, s3://, gs://, memory://); needs `prompt`, and `id` to match rows.
        output: Output root URL holding the previous run's manifest.parquet and images.
        scope: Which ids to refresh, and whether to delete images no longer used.
        images: What to generate: images per shard, image format.
        references: Product photos and sales channels: the default reference mode, channels, your channels file.
        dedupe: Which prompts share one image.
        backend: The image generator for the rows that need one.
        storage: Credentials for remote storage, by Secret block name only.
        execution: The operator's settings: where shard tasks run, and how long to wait for another writer.
    """
    return ends_cleanly(_refresh, catalog, output, scope, images, references, dedupe, backend, storage, execution)


def _refresh(catalog: str, output: str, scope: RefreshScope, images: Images, references: References, dedupe: Dedupe,
             backend: Backend, storage: Storage, execution: Execution):
    with core_logs_to_run():
        started = datetime.now(timezone.utc)
        with configuration_checks():  # a ValueError here is bad input; later, a bug with its traceback
            check_deployment_paths(catalog=catalog, output=output)
            options = RunOptions.from_groups(catalog, output, images, references, dedupe, backend,
                                             run_id=uuid.uuid4().hex,
                                             storage_options=storage_options_for(storage.storage_block))
            check_config(options)
            check_task_runner(execution.task_runner, execution.cluster_address)
        with hold_output(options, execution.lease_wait_seconds) as lease, run_context(options):
            plan = plan_catalog(options)
            publish_plan(options, plan, dry_run=False)
            plan_shards = [shard["name"] for shard in plan["shards"]]
            refresh = prepare_refresh_task(options, plan_shards, scope.ids or None)
            get_run_logger().info("refresh: " + ", ".join(f"{n} {a}" for a, n in refresh["counts"].items() if n)
                                  + f"; {refresh['images_to_regenerate']} images to make")
            run_shards(options, [{"name": name} for name in refresh["work_shards"]], execution)
            lease.check()
            result = finish_refresh_task(options, refresh["token"], plan_shards, refresh["work_shards"], scope.prune,
                                         started)
            return final_state(result, result["made"])
