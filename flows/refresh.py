"""Flow: refresh an image catalog in place: regenerate only rows that are new, changed or missing their image."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal, Optional

from prefect import flow
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import SecretStr

from flows.catalog import BackendName
from flows.runners import check_task_runner, shard_runner
from fluxcat.pipeline import RunOptions
from tasks.generation import generate_shard_task
from tasks.output_access import hold_output, storage_options_for
from tasks.planning import check_config_task, plan_catalog_task
from tasks.refresh import finish_refresh_task, prepare_refresh_task


@flow(name="refresh-assets", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=True)
def refresh_assets(
    catalog: str = "datasets/sample_catalog.parquet",
    output: str = "outputs/demo",
    backend: BackendName = "auto",
    ids: Optional[list[str]] = None,
    prune: bool = False,
    dedupe: Literal["off", "exact", "semantic"] = "exact",
    shard_size: int = 256,
    image_format: Literal["png", "webp", "jpeg"] = "png",
    backend_options: Optional[dict] = None,
    dedupe_options: Optional[dict] = None,
    storage_options: Optional[SecretStr] = None,
    storage_block: Optional[str] = None,
    task_runner: Literal["threads", "dask", "ray"] = "threads",
    cluster_address: Optional[str] = None,
    workers: Optional[int] = None,
    lease_wait_seconds: float = 0.0,
    qa: bool = True,
    qa_retries: int = 2,
) -> dict:
    """Bring an output up to date with today's catalog.

    Rows are compared with the latest manifest at the output by id: new ids, ids whose generation inputs
    changed (prompt or any planned parameter) and ids whose image is missing from storage are regenerated;
    unchanged rows are carried over untouched; ids gone from the catalog leave the manifest. The previous
    manifest stays under manifests/. Counts are published as the `fluxcat-refresh` artifact.

    Args:
        catalog: Parquet catalog URL (local path, s3://, gs://, memory://); needs `prompt`, and `id` to match rows.
        output: Output root URL holding the previous run's manifest.parquet and images.
        backend: Image generator for the rows that need one.
        ids: Refresh only these ids; every other row is left exactly as the previous manifest has it.
        prune: Delete images that the new manifest no longer uses (removed or changed rows). Off: nothing is deleted.
        dedupe: `exact` merges identical normalised prompts; `semantic` also near-identical ones; `off` neither.
        shard_size: Images per shard; one task runs one shard.
        image_format: Encoding of stored images.
        qa: Check each new image and reseed what a new seed can fix (as in generate-catalog).
        qa_retries: Regenerations with the next seed after a failed text or blank check.
        backend_options: Backend settings, e.g. {"schnell": "/models/FLUX.1-schnell"}.
        dedupe_options: Dedupe settings, e.g. {"threshold": 0.95}.
        storage_options: fsspec settings for s3:// and other remote URLs, as a JSON object, e.g.
            {"key": "...", "secret": "...", "client_kwargs": {"endpoint_url": "..."}}; a password field, never logged.
        storage_block: Name of a Prefect Secret block holding storage options as JSON.
        task_runner: Where shard tasks run: `threads` in this process, or a `dask` or `ray` cluster.
        cluster_address: Dask scheduler or Ray address; empty starts a local cluster.
        workers: Worker processes of a local cluster.
        lease_wait_seconds: If another run is writing this output, wait this long for it before failing.
    """
    options = RunOptions(catalog=catalog, output=output, backend=backend, backend_options=backend_options or {},
                         dedupe=dedupe, dedupe_options=dedupe_options or {}, shard_size=shard_size,
                         image_format=image_format, storage_options=storage_options_for(storage_options, storage_block),
                         qa=qa, qa_retries=qa_retries)
    started = datetime.now(timezone.utc)
    check_config_task(options)
    check_task_runner(task_runner, cluster_address)
    with hold_output(options, lease_wait_seconds) as lease:
        plan = plan_catalog_task(options)
        plan_shards = [shard["name"] for shard in plan["shards"]]
        refresh = prepare_refresh_task(options, plan_shards, ids)
        print("refresh: " + ", ".join(f"{n} {a}" for a, n in refresh["counts"].items() if n)
              + f"; {refresh['images_to_regenerate']} images to make")
        if refresh["work_shards"]:
            with shard_runner(task_runner, backend, cluster_address, workers) as submit:
                for future in as_completed(submit(generate_shard_task, options, refresh["work_shards"])):
                    future.result()
        lease.check()
        return finish_refresh_task(options, refresh["token"], plan_shards, refresh["work_shards"], prune, started)
