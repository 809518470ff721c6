"""Flow: a prompt catalog in, images plus a manifest out; resumable, one task per shard."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from prefect import flow
from prefect.states import Completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.paths import check_deployment_paths
from flows.runners import check_task_runner
from flows.shards import run_shards
from fluxcat.errors import configuration_checks
from fluxcat.layout import INDEX
from fluxcat.settings import (Backend, Dedupe, Execution, Images, References, Review, RunOptions, RunScope, Storage,
                              section)
from tasks.output_access import hold_output, storage_options_for
from tasks.outcome import ends_cleanly
from tasks.planning import check_config, plan_catalog
from tasks.reporting import core_logs_to_run, finish_run_task, publish_plan, sibling
from tasks.review import review_images
from tasks.runs import final_state, run_context


@flow(name="generate-catalog", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=True)
def generate_catalog(
    catalog: str,
    output: str,
    scope: RunScope = section(RunScope),  # the group's defaults, under its title in the form
    images: Images = section(Images),
    references: References = section(References),
    dedupe: Dedupe = section(Dedupe),
    backend: Backend = section(Backend),
    review: Review = section(Review),
    storage: Storage = section(Storage),
    execution: Execution = section(Execution),
) -> dict:
    """Generate an image catalog from a Parquet prompt catalog.

    Args:
        catalog: Parquet catalog URL (local path, s3://, gs://, memory://); needs a `prompt` column.
        output: Output root URL: images, manifest.parquet and index.html (the contact sheet) are written under it.
        scope: Which rows this run covers: a row limit, retrying failed rows, a dry run.
        images: What to generate: images per shard, image format.
        references: Product photos and sales channels: the default reference mode, channels, your channels file.
        dedupe: Which prompts share one image.
        backend: The image generator, its API key's Secret block, and a spending cap.
        review: Whether the run waits for a person to approve, reject or regenerate images in the UI.
        storage: Credentials for remote storage, by Secret block name only.
        execution: The operator's settings: where shard tasks run, and how long to wait for another writer.
    """
    return ends_cleanly(_generate, catalog, output, scope, images, references, dedupe, backend, review, storage,
                        execution)


def _generate(catalog: str, output: str, scope: RunScope, images: Images, references: References, dedupe: Dedupe,
              backend: Backend, review: Review, storage: Storage, execution: Execution):
    with core_logs_to_run():
        started = datetime.now(timezone.utc)
        with configuration_checks():  # a ValueError here is bad input; later, a bug with its traceback
            check_deployment_paths(catalog=catalog, output=output)
            options = RunOptions.from_groups(catalog, output, scope, images, references, dedupe, backend,
                                             run_id=uuid.uuid4().hex,  # names the run's context (budget, ledger)
                                             storage_options=storage_options_for(storage.storage_block))
            check_config(options)
            check_task_runner(execution.task_runner, execution.cluster_address)
        with hold_output(options, execution.lease_wait_seconds) as lease, run_context(options):
            plan = plan_catalog(options)
            publish_plan(options, plan, dry_run=scope.dry_run)
            if scope.dry_run:
                return Completed(message=f"dry run: {plan['images_to_generate']} images would be made",
                                 data={"dry_run": True, "plan": plan})
            reused = run_shards(options, plan["shards"], execution)
            lease.check()
            shards = [s["name"] for s in plan["shards"]]
            finished = finish_run_task(options, shards, reused, started)
            if review.review != "off" and review_images(options, review, shards,
                                                        sibling(finished["manifest"], INDEX)) is not None:
                lease.check()
                finished = finish_run_task(options, shards, reused, started)  # the manifest with the decisions
            return final_state({"plan": {k: plan[k] for k in ("images_to_generate", "estimated_cost_usd", "statuses")},
                                **finished}, finished["this_run"])
