"""Running one shard: skip finished work, generate the rest, write images atomically, then the shard's part."""

from __future__ import annotations

import hashlib
import io
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Iterable

import pyarrow as pa

from fluxcat.backends.base import Backend, ImageRequest, ImageResult
from fluxcat.layout import PARTS_DIR, PLAN_DIR
from fluxcat.schema import manifest_schema
from fluxcat.store import Store, image_relpath

if TYPE_CHECKING:
    from PIL.Image import Image

    from fluxcat.budget import Budget
    from fluxcat.qa.stage import ShardQa

ENCODE_OPTIONS = {"png": {"compress_level": 3}, "webp": {"quality": 90, "method": 4}, "jpeg": {"quality": 92}}

Event = Callable[[dict], None]


@dataclass
class ShardOutcome:
    shard: str
    statuses: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    cost_usd: float = 0.0
    reused: bool = False


def encode_image(image: "Image", image_format: str) -> bytes:
    """The canonical encoding of an image: fixed settings, no metadata, so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=image_format.upper(), **ENCODE_OPTIONS[image_format])
    return buffer.getvalue()


def run_shard(store: Store, shard: str, backend: Backend, image_format: str = "png", retry_failed: bool = False,
              on_event: Event | None = None, io_threads: int = 8, budget: "Budget | None" = None,
              qa: "ShardQa | None" = None) -> ShardOutcome:
    """Make every missing image of a shard and record every row's outcome in the shard's part.
    With a budget, each image is admitted against it before submission; the rest end `skipped`.
    With QA, each new image is checked and, where a new seed can fix it, regenerated (fluxcat/qa/stage.py)."""
    start = time.perf_counter()
    emit = on_event or (lambda event: None)
    part_path = f"{PARTS_DIR}/{shard}.parquet"
    if store.exists(part_path):
        part = store.read_table(part_path)
        statuses = set(part.column("status").to_pylist())
        # skipped rows (budget) were never attempted: a later run makes them
        if not ("skipped" in statuses or (retry_failed and "failed" in statuses)):
            outcome = _reuse(shard, part)
            emit({"shard": shard, "rows_done": part.num_rows, "reused": True})
            return outcome
    plan = store.read_table(f"{PLAN_DIR}/{shard}.parquet")
    rows = plan.to_pylist()
    with ThreadPoolExecutor(io_threads, thread_name_prefix="fluxcat-io") as pool:
        todo = _mark_existing(store, rows, image_format, pool, emit)
        _generate(store, todo, backend, image_format, pool, emit, budget, qa)
    for row in rows:
        if row["status"] == "planned":  # a backend that returned no result for a request
            _fail(row, "backend returned no result for this image", backend.name)
    outcome = ShardOutcome(shard, Counter(r["status"] for r in rows), time.perf_counter() - start,
                           sum(r.get("cost_usd") or 0.0 for r in rows))
    store.write_table(part_path, manifest_table(rows, plan.schema))
    emit({"shard": shard, "rows_done": sum(1 for r in rows if r["status"] in ("duplicate", "rejected"))})
    return outcome


def _reuse(shard: str, part: pa.Table) -> ShardOutcome:
    """A finished shard: its images stand; report them as existing for this run."""
    statuses = Counter("existing" if s == "generated" else s for s in part.column("status").to_pylist())
    return ShardOutcome(shard, statuses, reused=True)


def _mark_existing(store: Store, rows: list[dict], image_format: str, pool: ThreadPoolExecutor, emit: Event) -> list[dict]:
    planned = [r for r in rows if r["status"] == "planned"]
    paths = [image_relpath(r["key"], image_format) for r in planned]
    todo = []
    for row, path, exists in zip(planned, paths, pool.map(store.exists, paths)):
        if not exists:
            todo.append(row)
            continue
        data = store.read_bytes(path)
        _record(row, "existing", data, None, 0.0, 0.0)
        row["qa_status"] = "skipped"  # kept as an earlier run made (and, with QA on, judged) it
        emit({"key": row["key"], "status": "existing"})
    return todo


def _generate(store: Store, todo: list[dict], backend: Backend, image_format: str, pool: ThreadPoolExecutor, emit: Event,
              budget: "Budget | None" = None, qa: "ShardQa | None" = None) -> None:
    by_key: dict[str, list[dict]] = {}
    for row in todo:
        by_key.setdefault(row["key"], []).append(row)
    requests = sorted((request_for_row(rows[0]) for rows in by_key.values()), key=lambda r: r.batch_key)
    reserved: dict[str, float] = {}  # planned key -> estimated cost reserved in the budget (retries included)

    def admitted_chunks() -> Iterable[list[ImageRequest]]:
        for chunk in _chunks(requests, max(1, backend.max_batch)):
            if budget is not None:
                chunk = _admit(chunk, budget, backend, by_key, emit, reserved)
            if chunk:
                yield chunk

    def admit_retry(planned_key: str, request: ImageRequest) -> bool:
        cost = backend.cost_per_image(request)
        if budget is None or budget.admit(cost):
            reserved[planned_key] = reserved.get(planned_key, 0.0) + cost
            return True
        return False

    if qa is None:
        outcomes = ((r.key, r, {"qa_status": "skipped"} if r.ok else {})
                    for chunk in admitted_chunks() for r in backend.generate(chunk))
    else:
        outcomes = qa.run(backend, admitted_chunks(), by_key, admit_retry)
    pending = []
    for planned_key, result, updates in outcomes:
        if budget is not None:
            budget.settle(reserved.pop(planned_key, 0.0), result.cost_usd or 0.0)
        rows = by_key.get(planned_key, [])
        _apply_qa(store, rows, updates, image_format)
        # Encoding and upload run on I/O threads, overlapped with the backend's next batch.
        pending.append(pool.submit(_store_result, store, result, rows, image_format, emit))
    if budget is not None:  # requests the backend returned nothing for free their reservation
        for cost in reserved.values():
            budget.settle(cost, 0.0)
    for future in pending:
        future.result()


def _apply_qa(store: Store, rows: list[dict], updates: dict, image_format: str) -> None:
    """QA's verdict on the rows; a kept retry brings its own seed, content key and image path."""
    for row in rows:
        row.update(updates)
        if "key" in updates:
            row["image_uri"] = store.uri(image_relpath(updates["key"], image_format))


def _admit(chunk: list[ImageRequest], budget: "Budget", backend: Backend, by_key: dict[str, list[dict]],
           emit: Event, reserved: dict[str, float]) -> list[ImageRequest]:
    """The requests of a chunk that fit the budget (each reserved); the others' rows become `skipped`."""
    admitted = []
    for request in chunk:
        cost = backend.cost_per_image(request)
        if budget.admit(cost):
            admitted.append(request)
            reserved[request.key] = cost
            continue
        reason = budget.skip_reason(cost)
        for row in by_key.get(request.key, []):
            row.update(status="skipped", reason=reason, backend=None, cost_usd=0.0, created_at=datetime.now(timezone.utc))
        emit({"key": request.key, "status": "skipped"})
    return admitted


def _store_result(store: Store, result: ImageResult, rows: list[dict], image_format: str, emit: Event) -> None:
    import json

    details = json.dumps(result.details, sort_keys=True, default=str) if result.details else None
    for row in rows:
        row["details"] = details
    if not result.ok:
        for row in rows:
            _fail(row, result.error or "backend returned no image", result.backend, result.seconds, result.cost_usd)
        emit({"key": result.key, "status": "failed"})
        return
    try:
        data = encode_image(result.image, image_format)
        store.write_bytes(image_relpath(result.key, image_format), data)
    except Exception as error:  # a write that fails loses this image only, with its reason
        for row in rows:
            _fail(row, f"could not store image: {type(error).__name__}: {error}", result.backend, result.seconds, result.cost_usd)
        emit({"key": result.key, "status": "failed"})
        return
    for index, row in enumerate(rows):
        _record(row, "generated", data, result.backend, result.seconds, result.cost_usd if index == 0 else 0.0)
    emit({"key": result.key, "status": "generated"})


def _record(row: dict, status: str, data: bytes, backend: str | None, seconds: float, cost: float) -> None:
    row.update(status=status, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), backend=backend,
               seconds=seconds, cost_usd=cost, created_at=datetime.now(timezone.utc))


def _fail(row: dict, reason: str, backend: str | None, seconds: float = 0.0, cost: float = 0.0) -> None:
    row.update(status="failed", reason=reason, backend=backend, seconds=seconds, cost_usd=cost,
               created_at=datetime.now(timezone.utc))


def request_for_row(row: dict) -> ImageRequest:
    return ImageRequest(key=row["key"], prompt=row["prompt"], model=row["model"], width=row["width"],
                        height=row["height"], steps=row["steps"], guidance=row["guidance"], seed=row["seed"])


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def manifest_table(rows: list[dict], plan_schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=manifest_schema(plan_schema))
