"""Tasks: check the configuration, and plan a catalog into shards in the output store."""

from __future__ import annotations

from prefect import get_run_logger, task

from fluxcat.pipeline import RunOptions, check_options, plan


@task(name="check-config", tags=["fluxcat"])
def check_config_task(options: RunOptions) -> str:
    """Validate configuration before any work; logs and returns the resolved backend's name."""
    name = check_options(options).name
    get_run_logger().info("backend: %s", options.backend if name == options.backend else f"{options.backend} -> {name}")
    return name


@task(name="plan-catalog", tags=["fluxcat"])
def plan_catalog_task(options: RunOptions) -> dict:
    return plan(options).to_dict()
