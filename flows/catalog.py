"""Flow: a prompt catalog in, images plus a manifest out; resumable, one task per shard."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Literal, Optional

from prefect import flow
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import SecretStr

from flows.runners import check_task_runner, shard_runner
from fluxcat.pipeline import RunOptions
from tasks.generation import generate_shard_task
from tasks.planning import check_config_task, plan_catalog_task
from tasks.output_access import hold_output, storage_options_for
from tasks.reporting import ShardProgress, finish_run_task

BackendName = Literal["auto", "tiny", "diffusers", "fixed", "fal", "replicate", "hf", "segmind", "flux-api", "router",
                      "text-render"]


@flow(name="generate-catalog", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=True)
def generate_catalog(
    catalog: str = "datasets/sample_catalog.parquet",
    output: str = "outputs/demo",
    backend: BackendName = "auto",
    dedupe: Literal["off", "exact", "semantic"] = "semantic",
    dedupe_threshold: Optional[float] = None,
    embedding_model: Optional[str] = None,
    shard_size: int = 256,
    limit: Optional[int] = None,
    dry_run: bool = False,
    image_format: Literal["png", "webp", "jpeg"] = "png",
    retry_failed: bool = False,
    backend_options: Optional[dict] = None,
    dedupe_options: Optional[dict] = None,
    budget_usd: Optional[float] = None,
    storage_options: Optional[SecretStr] = None,
    storage_block: Optional[str] = None,
    task_runner: Literal["threads", "dask", "ray"] = "threads",
    cluster_address: Optional[str] = None,
    workers: Optional[int] = None,
    lease_wait_seconds: float = 0.0,
    qa: bool = True,
    qa_retries: int = 2,
) -> dict:
    """Generate an image catalog from a Parquet prompt catalog.

    Args:
        catalog: Parquet catalog URL (local path, s3://, gs://, memory://); needs a `prompt` column.
        output: Output root URL: images, manifest.parquet and index.html are written under it.
        backend: Image generator; `auto` uses FLUX weights on a CUDA GPU, else the tiny test model.
        dedupe: `exact` merges identical normalised prompts; `semantic` (default) also near-identical ones that the
            attribute guard accepts (never product variants); `off` neither.
        dedupe_threshold: Cosine similarity at or above which `semantic` dedupe considers two prompts (empty: fluxcat's measured default).
        embedding_model: sentence-transformers model name or local folder for `semantic` dedupe; empty uses the
            bundled all-MiniLM-L6-v2 (offline).
        shard_size: Images per shard; one task runs one shard.
        limit: Plan only the first N catalog rows.
        dry_run: Plan and report, generate nothing.
        image_format: Encoding of stored images.
        retry_failed: Re-attempt rows whose last status is `failed` (finished rows are never redone).
        backend_options: Backend settings, e.g. {"schnell": "/models/FLUX.1-schnell"}.
        dedupe_options: Dedupe settings, e.g. {"threshold": 0.95}.
        budget_usd: Spending cap for hosted backends: once estimated spend would pass it no new image is
            submitted, and the rest end `skipped` (a later run makes them).
        storage_options: fsspec settings for s3:// and other remote URLs, as a JSON object, e.g.
            {"key": "...", "secret": "...", "client_kwargs": {"endpoint_url": "..."}}; a password field, never logged.
        storage_block: Name of a Prefect Secret block holding storage options as JSON (used when storage_options is empty;
            else $FLUXCAT_STORAGE_OPTIONS, else fsspec's own environment such as AWS_*).
        task_runner: Where shard tasks run: `threads` in this process, or a `dask` or `ray` cluster.
        cluster_address: Dask scheduler (tcp://host:8786) or Ray (ray://host:10001) address; empty starts a local cluster.
        workers: Worker processes of a local cluster (GPU shards: one worker per GPU regardless).
        lease_wait_seconds: If another run is writing this output, wait this long for it before failing.
        qa: Check each new image (OCR of quoted text, blank images, named colour) and reseed what a new seed can fix.
        qa_retries: Regenerations with the next seed after a failed text or blank check (default 2).
    """
    options = RunOptions(catalog=catalog, output=output, backend=backend, backend_options=backend_options or {},
                         dedupe=dedupe, shard_size=shard_size, limit=limit,
                         dedupe_options={"threshold": dedupe_threshold, "model": embedding_model, **(dedupe_options or {})},
                         image_format=image_format, retry_failed=retry_failed,
                         budget_usd=budget_usd, run_id=uuid.uuid4().hex,  # one budget tracker per run
                         qa=qa, qa_retries=qa_retries,
                         storage_options=storage_options_for(storage_options, storage_block))
    started = datetime.now(timezone.utc)
    check_config_task(options)
    check_task_runner(task_runner, cluster_address)
    with hold_output(options, lease_wait_seconds) as lease:
        plan = plan_catalog_task(options)
        if dry_run:
            return {"dry_run": True, "plan": plan}
        shards = [shard["name"] for shard in plan["shards"]]
        progress = ShardProgress(len(shards))
        reused = []
        with shard_runner(task_runner, backend, cluster_address, workers) as submit:
            for future in as_completed(submit(generate_shard_task, options, shards)):
                outcome = future.result()
                reused += [outcome["shard"]] if outcome["reused"] else []
                progress.shard_done()
        lease.check()
        return {"plan": {k: plan[k] for k in ("images_to_generate", "estimated_cost_usd", "statuses")},
                **finish_run_task(options, shards, reused, started)}
