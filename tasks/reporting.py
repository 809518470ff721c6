"""Tasks and helpers that tell the UI about a run: stage log lines, the plan, shard progress, summary and gallery."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from datetime import datetime
from typing import Iterator

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, update_progress_artifact

from fluxcat.layout import INDEX, MANIFEST
from fluxcat.pipeline import RunOptions, finish
from fluxcat.schema import PLANNED, STATUSES
from fluxcat.ledger import run_verdict

GALLERY_IMAGES = 8
STATUS_ORDER = (PLANNED,) + STATUSES


@task(name="finish-run", tags=["fluxcat"])
def finish_run_task(options: RunOptions, shards: list[str], reused: list[str], started: datetime) -> dict:
    summary = finish(options, shards, set(reused), started)
    publish_table("summary", options.output, summary.table(), f"{run_verdict(summary.this_run).message()}. fluxcat "
                  f"run of {options.catalog}: images by status, model and size")
    publish_markdown("gallery", options.output, gallery_markdown(options, summary.manifest_uri,
                                                                 counts_line(summary.statuses)),
                     "first images of the run (QA-flagged first), and the contact sheet")
    get_run_logger().info("done: %s; manifest %s; contact sheet %s", counts_line(summary.statuses),
                          summary.manifest_uri, sibling(summary.manifest_uri, INDEX))
    return {"statuses": dict(summary.statuses), "models": dict(summary.models), "sizes": dict(summary.sizes),
            "rows": summary.rows, "cost_usd": summary.cost_usd, "manifest": summary.manifest_uri, "qa": dict(summary.qa),
            "remade": summary.remade, "this_run": dict(summary.this_run),
            "history": summary.history_uri}


def publish_plan(options: RunOptions, plan: dict, dry_run: bool) -> None:
    """The plan as a log line, and as an artifact (what a dry run leaves to read)."""
    line = (f"plan: {plan['catalog_rows']} catalog rows -> {plan['images_to_generate']} images to generate in "
            f"{len(plan['shards'])} shards ({counts_line(plan['statuses'])}); "
            f"estimated cost ${plan['estimated_cost_usd']:.4f}")
    get_run_logger().info(("dry run, nothing generated: " if dry_run else "") + line)
    table = [{"by": by, "value": str(value), "count": count} for by in ("statuses", "models", "sizes")
             for value, count in sorted(plan[by].items())]
    publish_table("plan", options.output, table, ("dry run: " if dry_run else "") + line)


def counts_line(counts: dict) -> str:
    ordered = sorted(counts, key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else len(STATUS_ORDER))
    return ", ".join(f"{counts[s]} {s}" for s in ordered if counts[s])


def shard_label(shard: dict) -> str:
    """A task run name a person can read: the model, the images to make and the first catalog row."""
    if "first_row" not in shard:
        return f"shard {shard['name'][:8]}"
    what = f"{shard['model']} · {shard['images']} images" if shard["images"] else "nothing to make"
    return f"{what} · from row {shard['first_row']} · {shard['name'][:6]}"


def log_shard(outcome: dict) -> None:
    what = ("reused: finished by an earlier run" if outcome["reused"]
            else f"{counts_line(outcome['statuses'])} in {outcome['seconds']:.1f} s")
    cost = f", ${outcome['cost_usd']:.4f}" if outcome.get("cost_usd") else ""
    get_run_logger().info("shard %s: %s%s", outcome["shard"][:12], what, cost)


def gallery_markdown(options: RunOptions, manifest_uri: str, counts: str = "") -> str:
    """Thumbnails embedded in the artifact (data: URIs: the browser shows them wherever the output lives), rows QA
    flagged first; then where the contact sheet and manifest are (a link only where a browser can open it)."""
    from fluxcat.report import gallery_rows
    from fluxcat.store import Store

    rows = gallery_rows(Store(options.output, options.storage_options), GALLERY_IMAGES)
    lines = ["# fluxcat gallery", "", (counts + ". " if counts else "") +
             (f"The first {len(rows)} images, those QA flagged first." if rows else "No images yet."), ""]
    if rows:
        lines += ["| image | id | prompt | status |", "|---|---|---|---|"]
        lines += [f"| {_thumbnail(r)} | {md_escape(r['id'])} | {md_escape(r['prompt'][:100])} | "
                  f"{r['status']}{md_escape(' · QA flagged: ' + r['qa_note']) if r['qa_note'] else ''} |" for r in rows]
        lines.append("")
    lines += [f"Contact sheet (every row): {_where(sibling(manifest_uri, INDEX))}  ", f"Manifest: {_where(manifest_uri)}"]
    return "\n".join(lines)


def _thumbnail(row: dict) -> str:
    return f"![{md_escape(row['id'])}]({row['thumbnail']})" if row["thumbnail"] else "(image unreadable)"


def sibling(uri: str, name: str) -> str:
    return f"{uri.rsplit('/', 1)[0]}/{name}" if uri.endswith(MANIFEST) else f"{uri.rstrip('/')}/{name}"


def _where(uri: str) -> str:
    """A link where a browser can follow it (http, https); else the location as text to copy (a file:// link from a
    web page is refused by the browser, and s3:// is no web address)."""
    if uri.startswith(("http://", "https://")):
        return f"[{md_escape(uri)}]({uri})"
    return md_escape(uri)


def md_escape(text: str) -> str:
    """Text shown as text in markdown: no link, image or emphasis from a catalog's prompt."""
    return "".join("\\" + c if c in "\\`*_{}[]()#+!|<>" else c for c in str(text))


def artifact_key(kind: str, output: str) -> str:
    """fluxcat-<kind>-<deployment or flow>-<output>: one key's history is one deployment's runs on one output."""
    from prefect.runtime import deployment, flow_run

    source = deployment.name or flow_run.flow_name or "adhoc"
    tail = output.rstrip("/").rsplit("/", 1)[-1]
    digest = hashlib.sha256(output.encode()).hexdigest()[:8]
    return "-".join(_slug(part) for part in ("fluxcat", kind, source, tail, digest) if _slug(part))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40]


def publish_table(kind: str, output: str, table: list[dict], description: str) -> None:
    _publish(kind, output, json.dumps(table, default=str), description,
             lambda key: create_table_artifact(key=key, table=table, description=description))


def publish_markdown(kind: str, output: str, markdown: str, description: str) -> None:
    _publish(kind, output, markdown, description,
             lambda key: create_markdown_artifact(key=key, markdown=markdown, description=description))


def _publish(kind: str, output: str, data: str, description: str, create) -> None:
    """Create the artifact, or update the one this flow run made before (a retried run makes no second copy)."""
    key = artifact_key(kind, output)
    existing = _this_runs_artifact(key)
    if existing is None:
        create(key)
        return
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactUpdate

    with get_client(sync_client=True) as client:
        client.update_artifact(existing, ArtifactUpdate(data=data, description=description))


def _this_runs_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
    from prefect.runtime import flow_run

    if not flow_run.id:
        return None
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id])), limit=1)
    return found[0].id if found else None


class ShardProgress:
    """A progress artifact for the UI, moved on as shards finish; at most one update a second, since each is
    a round trip to the Prefect API and a catalog can have thousands of shards."""

    def __init__(self, options: RunOptions, total: int, min_interval: float = 1.0):
        self.total, self.done, self.min_interval = total, 0, min_interval
        key = artifact_key("progress", options.output)
        self.artifact_id = _this_runs_artifact(key) or create_progress_artifact(
            progress=0.0, key=key, description="shards finished")
        self.last_update = time.monotonic()

    def shard_done(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.done == self.total or now - self.last_update >= self.min_interval:
            update_progress_artifact(artifact_id=self.artifact_id, progress=100.0 * self.done / max(self.total, 1))
            self.last_update = now


class ProgressLines:
    """Log lines while a shard runs, from the core's per-image events: one every `every` images, or at the next image
    once a minute has passed since the last line, so a long shard is never silent."""

    def __init__(self, log, every: int = 25, seconds: float = 60.0, clock=time.monotonic):
        self.log, self.every, self.seconds, self.clock = log, every, seconds, clock
        self.counts: dict[str, int] = {}
        self.told, self.started = 0, clock()
        self.last = self.started
        self.lock = threading.Lock()  # images are stored, and their events sent, from the shard's I/O threads

    def __call__(self, event: dict) -> None:
        if "status" not in event or "key" not in event:
            return
        with self.lock:
            self.counts[event["status"]] = self.counts.get(event["status"], 0) + 1
            done, now = sum(self.counts.values()), self.clock()
            if done - self.told < self.every and now - self.last < self.seconds:
                return
            self.told, self.last = done, now
            line = counts_line(self.counts)
        self.log.info("progress: %d images so far (%s) after %.0f s", done, line, now - self.started)


def with_progress_lines(run):
    """The run as one shard's task sees it: its events also move that shard's progress lines (the task's log)."""
    import dataclasses

    lines = ProgressLines(get_run_logger())

    def emit(event: dict) -> None:
        run.emit(event)
        lines(event)

    return dataclasses.replace(run, emit=emit)


@contextlib.contextmanager
def core_logs_to_run() -> Iterator[None]:
    """The core's own log lines (`auto -> tiny` and why, a wait for another writer's lease, hosted retries) reach
    the run's log in the UI: INFO and above, whatever level the process's logging left the core's logger at. The run
    logger writes them to the console as well, so they do not also travel up to the root logger's console."""
    handler = _ToRunLogger(get_run_logger())
    core = logging.getLogger("fluxcat")
    level, propagate = core.level, core.propagate
    core.addHandler(handler)
    core.propagate = False
    if not core.isEnabledFor(logging.INFO):
        core.setLevel(logging.INFO)
    try:
        yield
    finally:
        core.removeHandler(handler)
        core.setLevel(level)
        core.propagate = propagate


class _ToRunLogger(logging.Handler):
    def __init__(self, run_logger):
        super().__init__(logging.INFO)
        self.run_logger = run_logger

    def emit(self, record: logging.LogRecord) -> None:
        self.run_logger.log(record.levelno, "%s", record.getMessage())
