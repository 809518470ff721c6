"""Tasks: merge the manifest and index.html, and publish the run's Prefect artifacts."""

from __future__ import annotations

import time
from datetime import datetime

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, update_progress_artifact

from fluxcat.pipeline import RunOptions, finish

GALLERY_IMAGES = 8


@task(name="finish-run", tags=["fluxcat"])
def finish_run_task(options: RunOptions, shards: list[str], reused: list[str], started: datetime) -> dict:
    summary = finish(options, shards, set(reused), started)
    create_table_artifact(key="fluxcat-summary", table=summary.table(),
                          description=f"fluxcat run of {options.catalog}: images by status, model and size")
    create_markdown_artifact(key="fluxcat-gallery", markdown=gallery_markdown(options, summary.manifest_uri),
                             description="first images of the run")
    return {"statuses": dict(summary.statuses), "models": dict(summary.models), "sizes": dict(summary.sizes),
            "rows": summary.rows, "cost_usd": summary.cost_usd, "manifest": summary.manifest_uri, "qa": dict(summary.qa),
            "history": summary.history_uri}


def gallery_markdown(options: RunOptions, manifest_uri: str) -> str:
    """Inline images where the output is browsable over http(s); links to the files otherwise."""
    from fluxcat.manifest import first_images
    from fluxcat.store import Store

    rows = first_images(Store(options.output, options.storage_options), GALLERY_IMAGES)
    lines = [f"# fluxcat gallery\n\nManifest: `{manifest_uri}`\n"]
    for row in rows:
        label = _md_escape(row["id"])
        if row["image_uri"].startswith(("http://", "https://")):
            lines.append(f"![{label}]({row['image_uri']})")
        else:
            lines.append(f"- **{label}**: `{row['image_uri']}`: {_md_escape(row['prompt'][:120])}")
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_{}[]()#+!|<>" else c for c in str(text))


class ShardProgress:
    """A progress artifact for the UI, moved on as shards finish; at most one update a second, since each is
    a round trip to the Prefect API and a catalog can have thousands of shards."""

    def __init__(self, total: int, min_interval: float = 1.0):
        self.total, self.done, self.min_interval = total, 0, min_interval
        self.artifact_id = create_progress_artifact(progress=0.0, key="fluxcat-progress", description="shards finished")
        self.last_update = time.monotonic()

    def shard_done(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.done == self.total or now - self.last_update >= self.min_interval:
            update_progress_artifact(artifact_id=self.artifact_id, progress=100.0 * self.done / max(self.total, 1))
            self.last_update = now
