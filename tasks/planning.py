"""Task: plan a catalog into shards in the output store."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from fluxcat.dedupe.audit import audit_markdown
from fluxcat.pipeline import RunOptions, check_options, plan


@task(name="check-config", tags=["fluxcat"])
def check_config_task(options: RunOptions) -> str:
    """Validate configuration before any work; returns the resolved backend's name."""
    return check_options(options).name


@task(name="plan-catalog", tags=["fluxcat"])
def plan_catalog_task(options: RunOptions) -> dict:
    report = plan(options)
    if report.duplicates or report.kept_apart:
        create_markdown_artifact(audit_markdown(report.duplicates, report.kept_apart), key="dedupe-audit")
    return report.to_dict()
