"""Tasks: check the configuration, and plan a catalog into shards in the output store."""

from __future__ import annotations

from prefect import get_run_logger, task

from fluxcat.dedupe.audit import audit_markdown
from fluxcat.pipeline import RunOptions, check_options, plan
from tasks.outcome import fails_quietly, raise_if_failed
from tasks.reporting import publish_markdown
from tasks.runs import run_for


def check_config(options: RunOptions) -> str:
    """Validate configuration before any work; logs and returns the resolved backend's name. Called in the flow
    itself, not as a task: a bad setting or catalog is then the run's one error line, with no task traceback."""
    name = check_options(options, to_send=not options.dry_run)  # a dry run needs no provider key
    get_run_logger().info("backend: %s", options.backend if name == options.backend else f"{options.backend} -> {name}")
    return name


@task(name="plan-catalog", tags=["fluxcat"])
@fails_quietly  # a catalog that turns out unreadable half-way: the task's one line, not a traceback
def plan_catalog_task(options: RunOptions) -> dict:
    with run_for(options) as run:
        report = plan(run)
    if report.duplicates or report.kept_apart:
        publish_markdown("dedupe-audit", options.output, audit_markdown(report.duplicates, report.kept_apart),
                         "rows dedupe merged, and the closest pairs it kept apart, each with the reason")
    return report.to_dict()


def plan_catalog(options: RunOptions) -> dict:
    """The plan, from the plan-catalog task; an expected error it ended on is raised in the flow as its one line."""
    return raise_if_failed(plan_catalog_task(options))
