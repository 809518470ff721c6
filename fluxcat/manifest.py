"""The run's manifest: shard parts merged into manifest.parquet (latest) plus a timestamped copy (history)."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from fluxcat.errors import UserError
from fluxcat.layout import HISTORY_DIR, MANIFEST, PARTS_DIR
from fluxcat.parquet_read import parquet_batches, read_parquet
from fluxcat.schema import REMADE, STATUSES, WITH_IMAGE
from fluxcat.store import Store

FLAGGED_LISTED = 50  # flagged rows listed by id in a summary; the manifest has them all
log = logging.getLogger("fluxcat")


@dataclass
class RunSummary:
    """Counts for the run: by status, by model and by size, and where the manifest is."""

    statuses: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)
    qa: Counter = field(default_factory=Counter)  # images by QA status
    flagged: list[dict] = field(default_factory=list)  # the first FLAGGED_LISTED rows QA flagged: id and why
    cost_usd: float = 0.0
    remade: int = 0  # images an earlier run recorded that were missing from the output, made again
    this_run: Counter = field(default_factory=Counter)  # outcomes of the images this run tried to make
    manifest_uri: str = ""
    history_uri: str = ""
    rows: int = 0

    def table(self) -> list[dict]:
        """One record per (dimension, value) for an artifact table; rows QA flagged come first."""
        out = [{"by": "QA flagged", "value": f"{f['id']}: {f['reason']}", "images": 1} for f in self.flagged]
        out += [{"by": "status", "value": s, "images": self.statuses.get(s, 0)} for s in STATUSES]
        if self.remade:
            out.append({"by": "status", "value": "generated: remade, missing from the output", "images": self.remade})
        out += [{"by": "qa", "value": s, "images": n} for s, n in sorted(self.qa.items())]
        out += [{"by": "model", "value": m, "images": n} for m, n in sorted(self.models.items())]
        out += [{"by": "size", "value": s, "images": n} for s, n in sorted(self.sizes.items())]
        return out


def merge_parts(store: Store, shards: list[str], reused: set[str] = frozenset(),
                run_started: datetime | None = None) -> RunSummary:
    """Stream each shard's part into one Parquet file, in shard order; memory holds one part at a time.
    Images of shards finished by an earlier run are reported as `existing`: this run did not make them.
    A duplicate whose canonical image was not made takes that row's status: it has no image either."""
    summary = RunSummary()
    unmade = _unmade_images(store, shards)
    stamp = (run_started or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    history = f"{HISTORY_DIR}/manifest-{stamp}.parquet"
    buffer = io.BytesIO()
    writer = None
    for shard in shards:
        part = store.read_table(f"{PARTS_DIR}/{shard}.parquet")
        if shard in reused:
            part = _as_existing(part)
        if unmade:
            part = _duplicates_of_unmade(part, unmade)
        if writer is None:
            writer = pq.ParquetWriter(buffer, part.schema, compression="zstd")
        writer.write_table(part.cast(writer.schema))
        _count(summary, part, run_started)
    if writer is None:
        raise ValueError("no shards to merge: the catalog had no rows")
    writer.close()
    data = buffer.getvalue()
    store.write_bytes(history, data)
    store.write_bytes(MANIFEST, data)
    summary.manifest_uri, summary.history_uri = store.uri(MANIFEST), store.uri(history)
    return summary


def _as_existing(part: pa.Table) -> pa.Table:
    statuses = ["existing" if s == "generated" else s for s in part.column("status").to_pylist()]
    return _with_strings(part, "status", statuses)


def _unmade_images(store: Store, shards: list[str]) -> dict[str, tuple[str, str]]:
    """Content key -> (status, reason) of every image that failed or was skipped; only those columns are read."""
    unmade = {}
    for shard in shards:
        with store.fs.open(store.path(f"{PARTS_DIR}/{shard}.parquet"), "rb") as handle:
            columns = read_parquet(handle, columns=["status", "key", "reason"]).to_pydict()
        for status, key, reason in zip(columns["status"], columns["key"], columns["reason"]):
            if status in ("failed", "skipped"):
                unmade[key] = (status, reason)
    return unmade


def _duplicates_of_unmade(part: pa.Table, unmade: dict[str, tuple[str, str]]) -> pa.Table:
    columns = part.select(["status", "key", "reason", "duplicate_of"]).to_pydict()
    statuses, reasons = list(columns["status"]), list(columns["reason"])
    for i, (status, key, canonical) in enumerate(zip(columns["status"], columns["key"], columns["duplicate_of"])):
        if status == "duplicate" and key in unmade:
            statuses[i] = unmade[key][0]
            reasons[i] = f"same image as {canonical}, which was not made: {unmade[key][1]}"
    return _with_strings(_with_strings(part, "status", statuses), "reason", reasons)


def _with_strings(part: pa.Table, name: str, values: list) -> pa.Table:
    index = part.schema.get_field_index(name)
    return part.set_column(index, part.schema.field(index), pa.array(values, pa.string()))


def _count(summary: RunSummary, part: pa.Table, run_started: datetime | None) -> None:
    columns = part.select(["status", "model", "width", "height", "cost_usd", "reason", "created_at"]).to_pydict()
    for status, model, width, height, cost, reason, created in zip(*columns.values()):
        summary.rows += 1
        summary.statuses[status] += 1
        if status in ("generated", "failed", "skipped") and created is not None and \
                (run_started is None or created >= run_started):  # not an outcome carried from an earlier run
            summary.this_run[status] += 1
        summary.cost_usd += cost or 0.0
        summary.remade += status == "generated" and reason == REMADE
        if status in WITH_IMAGE:
            summary.models[model] += 1
            summary.sizes[f"{width}x{height}"] += 1
    if "qa_status" in part.schema.names:
        _count_qa(summary, part)


def _count_qa(summary: RunSummary, part: pa.Table) -> None:
    columns = part.select(["id", "qa_status", "qa_details"]).to_pydict()
    for row_id, status, details in zip(*columns.values()):
        if status is None:
            continue
        summary.qa[status] += 1
        if status == "flagged" and len(summary.flagged) < FLAGGED_LISTED:
            summary.flagged.append({"id": row_id, "reason": json.loads(details or "{}").get("reason", "")})


def read_manifest(store: Store) -> pa.Table:
    return store.read_table(MANIFEST)


def latest_manifest(store: Store, plan_shards: list[str] = ()) -> pa.Table | None:
    """The latest manifest, or None before the first run. A damaged manifest.parquet is rebuilt, and written back,
    from the newest readable copy under manifests/, else from the parts of `plan_shards` (when they are all there)."""
    if not store.exists(MANIFEST):
        return None
    try:
        return store.read_table(MANIFEST)
    except (OSError, pa.ArrowException) as error:
        log.warning("%s is unreadable (%s): rebuilding it", MANIFEST, error)
    for copy in sorted(store.list(HISTORY_DIR), reverse=True):
        try:
            table = store.read_table(copy)
        except (OSError, pa.ArrowException):
            continue
        store.write_bytes(MANIFEST, store.read_bytes(copy))
        log.warning("%s rebuilt from %s", MANIFEST, copy)
        return table
    parts = [f"{PARTS_DIR}/{shard}.parquet" for shard in plan_shards]
    if parts and all(store.exists(part) for part in parts):
        table = pa.concat_tables([store.read_table(part) for part in parts], promote_options="permissive")
        store.write_table(MANIFEST, table)
        log.warning("%s rebuilt from the parts of %d shards", MANIFEST, len(parts))
        return table
    raise UserError(f"{store.uri(MANIFEST)} is damaged and no readable copy is left under {HISTORY_DIR}/: run "
                    f"`fluxcat run` on the same catalog and output to rebuild it from the finished shards")


def first_images(store: Store, count: int) -> list[dict]:
    """The first `count` rows with an image, read batch by batch (manifests can be large)."""
    found: list[dict] = []
    with store.fs.open(store.path(MANIFEST), "rb") as handle:
        for batch in parquet_batches(handle, columns=["id", "prompt", "status", "image_uri"]):
            found += [r for r in batch.to_pylist() if r["status"] in WITH_IMAGE]
            if len(found) >= count:
                break
    return found[:count]
