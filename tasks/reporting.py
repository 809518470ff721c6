"""Tasks: merge the manifest and index.html, and publish the run's Prefect artifacts."""

from __future__ import annotations

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
            "rows": summary.rows, "cost_usd": summary.cost_usd, "manifest": summary.manifest_uri,
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


def start_progress() -> str:
    """A progress artifact for the UI, moved on as each shard finishes."""
    return str(create_progress_artifact(progress=0.0, key="fluxcat-progress", description="shards finished"))


def update_progress(artifact_id: str, done: int, total: int) -> None:
    update_progress_artifact(artifact_id=artifact_id, progress=100.0 * done / max(total, 1))
