"""Task: plan a catalog into shards in the output store."""

from __future__ import annotations

from prefect import task

from fluxcat.pipeline import RunOptions, check_options, plan


@task(name="check-config", tags=["fluxcat"])
def check_config_task(options: RunOptions) -> str:
    """Validate configuration before any work; returns the resolved backend's name."""
    return check_options(options).name


@task(name="plan-catalog", tags=["fluxcat"])
def plan_catalog_task(options: RunOptions) -> dict:
    return plan(options).to_dict()
