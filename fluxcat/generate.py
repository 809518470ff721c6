"""Running one shard, the only code that calls a backend: keep what the output holds, make the rest (asking for the
next seed when QA says a new one can help), write images atomically under their planned key, then the shard's part.
An output made from a reference gets its model's image inputs and is delivered (fluxcat/delivery.py) before QA judges
it; a white packshot is composed here, without a backend."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pyarrow as pa

from fluxcat.backends.base import ImageRequest, ImageResult
from fluxcat.delivery import (
    PACKSHOT, OutputProblem, compose_packshot, delivered, output_expectation, placement_for, with_inputs,
)
from fluxcat.layout import PARTS_DIR, PLAN_DIR
from fluxcat.limits import SEED_RANGE
from fluxcat.qa import QaSettings
from fluxcat.qa.channels import bytes_check
from fluxcat.qa.expect import Expectation
from fluxcat.qa.stage import Attempt, judge, qa_columns
from fluxcat.schema import PLANNED, REMADE, WITH_IMAGE, manifest_schema
from fluxcat.store import image_relpath

if TYPE_CHECKING:
    from PIL.Image import Image

    from fluxcat.reference import Placement
    from fluxcat.runtime import RunContext
    from fluxcat.settings import RunOptions

ENCODE_OPTIONS = {"png": {"compress_level": 3}, "webp": {"quality": 90, "method": 4}, "jpeg": {"quality": 92}}
SEED_SPACE = SEED_RANGE[1] + 1
NO_RESULT = "backend returned no result for this image"
COMPOSED = "not reseeded: a white packshot is composed, not generated"


@dataclass(frozen=True)
class ShardSettings:
    """How a shard is run; `qa` None stores images unchecked."""

    image_format: str = "png"
    retry_failed: bool = False
    qa: QaSettings | None = QaSettings()
    io_threads: int = 8

    @classmethod
    def of(cls, options: "RunOptions") -> "ShardSettings":
        """The settings a run's options give its shards."""
        return cls(image_format=options.image_format, retry_failed=options.retry_failed,
                   qa=QaSettings(retries=options.qa_retries) if options.qa else None)


@dataclass
class ShardOutcome:
    shard: str
    statuses: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    cost_usd: float = 0.0
    reused: bool = False
    remade: int = 0  # images an earlier run recorded that were missing from the output, made again


def encode_image(image: "Image", image_format: str) -> bytes:
    """The canonical encoding of an image: fixed settings, no metadata, so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=image_format.upper(), **ENCODE_OPTIONS[image_format])
    return buffer.getvalue()


def run_shard(run: "RunContext", shard: str, settings: ShardSettings = ShardSettings()) -> ShardOutcome:
    """Make every image of a shard the output does not hold and record every row's outcome in the shard's part.
    A row an earlier run finished is kept only if its image is there (one listing per image prefix); with a budget
    each attempt is admitted at its worst-case price first, and the rows that do not fit end `skipped`."""
    start = time.perf_counter()
    part_path = f"{PARTS_DIR}/{shard}.parquet"
    earlier = run.store.read_table(part_path).to_pylist() if run.store.exists(part_path) else None
    with ThreadPoolExecutor(settings.io_threads, thread_name_prefix="fluxcat-io") as pool:
        if earlier is not None and _finished(run, earlier, settings, pool):
            statuses = Counter("existing" if row["status"] == "generated" else row["status"] for row in earlier)
            run.emit({"shard": shard, "rows_done": len(earlier), "reused": True})
            return ShardOutcome(shard, statuses, reused=True)
        plan = run.store.read_table(f"{PLAN_DIR}/{shard}.parquet")
        rows = plan.to_pylist()
        todo, remade = _resume(run, rows, earlier, settings, pool)
        _Maker(run, settings, pool).make(todo)
    outcome = ShardOutcome(shard, Counter(row["status"] for row in rows), time.perf_counter() - start,
                           sum(row.get("cost_usd") or 0.0 for row in rows), remade=remade)
    run.store.write_table(part_path, manifest_table(rows, plan.schema))
    run.emit({"shard": shard, "rows_done": sum(1 for row in rows if row["status"] in ("duplicate", "rejected"))})
    return outcome


def remake(run: "RunContext", rows: list[dict], settings: ShardSettings = ShardSettings()) -> None:
    """Make these rows' images again, each from the seed its row now holds (a reviewer asked for another), QA
    included: the image kept replaces the old one under the row's planned key, and the rows record the outcome."""
    with ThreadPoolExecutor(settings.io_threads, thread_name_prefix="fluxcat-io") as pool:
        _Maker(run, settings, pool).make(rows)


def _finished(run: "RunContext", part: list[dict], settings: ShardSettings, pool: Executor) -> bool:
    """An earlier run finished this shard: nothing skipped (budget) or to retry, and every image is there."""
    statuses = {row["status"] for row in part}
    if "skipped" in statuses or (settings.retry_failed and "failed" in statuses):
        return False
    stored = [row for row in part if row["status"] in WITH_IMAGE]
    run.images.prefetch([row["key"] for row in stored], pool)
    return all(run.images.present(row["key"], _format(row, settings)) for row in stored)


def _resume(run: "RunContext", rows: list[dict], part: list[dict] | None, settings: ShardSettings,
            pool: Executor) -> tuple[list[dict], int]:
    """Give each planned row the outcome the output already holds; returns the rows to make and how many of them
    an earlier run had made (their image is gone: made again, counted)."""
    recorded = {(row["row_number"], row["image_index"]): row for row in part or []}
    planned = [row for row in rows if row["status"] == PLANNED]
    run.images.prefetch([row["key"] for row in planned], pool)
    todo, found, remade = [], [], 0
    for row in planned:
        earlier = recorded.get((row["row_number"], row["image_index"]))
        there = run.images.present(row["key"], _format(row, settings))
        if earlier is not None and earlier["status"] in WITH_IMAGE and there:
            row.update({**earlier, "status": "existing"})  # its outcome record, without reading the image
            run.emit({"key": row["key"], "status": "existing"})
        elif there:
            found.append(row)
        elif earlier is not None and earlier["status"] == "failed" and not settings.retry_failed:
            row.update(earlier)
        else:
            if earlier is not None and earlier["status"] in WITH_IMAGE:
                row["reason"], remade = REMADE, remade + 1
            todo.append(row)
    # Stored by a run that never wrote this shard's part (killed, or another catalog): read once for its hash.
    for row, data in zip(found, pool.map(lambda r: run.store.read_bytes(image_relpath(r["key"], _format(r, settings))),
                                         found)):
        _record(row, "existing", data, None, 0.0, 0.0)
        row["qa_status"] = "skipped"  # kept as the earlier run made (and, with QA on, judged) it
        run.ledger.close_image(row["key"], row["seed"])  # its job records, if a crash left them open
        run.emit({"key": row["key"], "status": "existing"})
    return todo, remade


@dataclass
class _Image:
    """One image of the shard on its way: the rows that share it, its planned attempt and its attempts so far."""

    request: ImageRequest
    rows: list[dict]
    locked: str | None  # why QA may not ask for another seed
    attempts: list[Attempt] = field(default_factory=list)
    best: tuple[int, ImageResult] | None = None  # (attempt number, result): the only image held
    seconds: float = 0.0
    cost_usd: float = 0.0
    expects: Expectation | None = None  # what QA judges it by, made on its first result
    placement: "Placement | None" = None  # its reference at product_box, held while the image is on its way

    def next_request(self) -> ImageRequest:
        """The row's next unused seed (a row of n images uses seed..seed+n-1); the key stays the planned one."""
        step = self.rows[0].get("num_images") or 1
        return replace(self.request, seed=(self.request.seed + len(self.attempts) * step) % SEED_SPACE)

    @property
    def row(self) -> dict:
        return self.rows[0]


class _Maker:
    """Asks the backend for a shard's images batch by batch, judges each on QA threads while the backend makes the
    next batch, queues a new seed where QA says it can help, and stores the attempt kept for each image. White
    packshots are composed here: no backend, no budget."""

    def __init__(self, run: "RunContext", settings: ShardSettings, pool: Executor):
        self.run, self.settings, self.pool, self.backend = run, settings, pool, run.backend
        self.queue: deque[ImageRequest] = deque()
        self.images: dict[str, _Image] = {}
        self.reserved: dict[str, float] = {}  # key -> worst-case price reserved in the budget for its attempt
        self.judging: dict[Future, tuple[_Image, ImageRequest, ImageResult]] = {}
        self.stored: list[Future] = []
        self.labels: dict = {}  # (reference, size, box) -> the label text OCR read on it (edit mode), per shard

    def make(self, rows: list[dict]) -> None:
        by_key: dict[str, list[dict]] = {}
        for row in rows:
            by_key.setdefault(row["key"], []).append(row)
        for key, shared in by_key.items():
            group = shared[0].get("seed_group")
            locked = f"not reseeded: the rows of group {group!r} share one seed, so its variants stay one shot" \
                if group else None
            self.images[key] = _Image(request_for_row(shared[0]), shared, COMPOSED if shared[0]["model"] == PACKSHOT
                                      else locked)
        made = [image for image in self.images.values() if image.request.model != PACKSHOT]
        # Images with a billed job open in the ledger first: what is paid for is collected before the budget goes.
        self.queue.extend(sorted((image.request for image in made),
                                 key=lambda r: (not self.run.ledger.has_open(r.key), r.batch_key)))
        qa = self.settings.qa
        with ThreadPoolExecutor(qa.threads if qa else 1, thread_name_prefix="fluxcat-qa") as self.qa_pool:
            for image in self.images.values():
                if image.request.model == PACKSHOT:
                    self._compose(image)
            while self.queue or self.judging:
                batch = self._next_batch()
                if batch:
                    self._generate(batch)
                self._settle(block=not batch)
        for future in self.stored:
            future.result()

    def _next_batch(self) -> list[ImageRequest]:
        """Up to max_batch requests, each admitted against the budget at its worst-case price, with its inputs."""
        batch: list[ImageRequest] = []
        while self.queue and len(batch) < max(1, self.backend.max_batch):
            request = self.queue.popleft()
            image = self.images[request.key]
            try:
                placement = self._placement(image)
            except OutputProblem as problem:
                self._failed(image, ImageResult(request.key, error=str(problem)))
                continue
            if self.run.budget is not None:
                cost = self.backend.cost_per_image(request)
                if not self.run.budget.admit(cost):
                    self._refused(image, self.run.budget.skip_reason(cost))
                    continue
                self.reserved[request.key] = cost
            batch.append(with_inputs(request, image.row.get("reference_mode"), placement))
        return batch

    def _placement(self, image: _Image) -> "Placement | None":
        """The image's reference placed in its frame, read once while the image is on its way."""
        if image.placement is None and image.row.get("reference_image"):
            image.placement = placement_for(image.row, self.run.references)
        return image.placement

    def _compose(self, image: _Image) -> None:
        """A white packshot: the product on pure white at the delivered size, free and instant, judged and kept like
        any image."""
        start = time.perf_counter()
        try:
            result = ImageResult(image.request.key, image=compose_packshot(self._placement(image)), backend=PACKSHOT)
        except OutputProblem as problem:
            return self._failed(image, ImageResult(image.request.key, error=str(problem), backend=PACKSHOT))
        result.seconds = time.perf_counter() - start
        self._received(image.request, result)

    def _generate(self, batch: list[ImageRequest]) -> None:
        asked = {request.key: request for request in batch}
        for result in self.backend.generate(batch):
            if result.key in asked:
                self._received(asked.pop(result.key), result)
        for request in asked.values():
            self._received(request, ImageResult(request.key, error=NO_RESULT, backend=self.backend.name))

    def _received(self, request: ImageRequest, result: ImageResult) -> None:
        if self.run.budget is not None:
            self.run.budget.settle(self.reserved.pop(request.key, 0.0), result.cost_usd or 0.0)
        image = self.images[request.key]
        image.seconds += result.seconds
        image.cost_usd += result.cost_usd or 0.0
        if result.ok:  # stored as delivered: the channel's size, the product's own pixels back on top
            result = replace(result, image=delivered(result.image, image.row, image.placement))
        if not result.ok:
            self._next(image, Attempt(request.seed, error=result.error), result)
        elif self.settings.qa is None:
            image.attempts.append(Attempt(request.seed))
            image.best = (1, result)
            self._keep(image)
        elif not self._expects(image).slow:  # blank and colour checks take well under a millisecond: judged here
            verdict = judge(result.image, image.expects, self.settings.qa, self.run.read_text)
            self._next(image, Attempt(request.seed, verdict=verdict), result)
        else:  # OCR, the product and the channel's rules: on the QA threads, while the backend makes the next batch
            future = self.qa_pool.submit(judge, result.image, image.expects, self.settings.qa, self.run.read_text)
            self.judging[future] = (image, request, result)

    def _expects(self, image: _Image) -> Expectation:
        if image.expects is None:
            image.expects = output_expectation(image.row, image.placement, self.run.channels, self.run.read_text,
                                               self.labels)
        return image.expects

    def _settle(self, block: bool) -> None:
        """Act on finished verdicts; `block` waits for at least one."""
        if not self.judging:
            return
        done = wait(self.judging, return_when=FIRST_COMPLETED).done if block else \
            [future for future in self.judging if future.done()]
        for future in done:
            image, request, result = self.judging.pop(future)
            self._next(image, Attempt(request.seed, verdict=future.result()), result)

    def _next(self, image: _Image, attempt: Attempt, result: ImageResult) -> None:
        """Record an attempt, then keep the image, or ask for the next seed while retries remain."""
        image.attempts.append(attempt)
        if result.ok and (image.best is None or attempt.rank > image.attempts[image.best[0] - 1].rank):
            image.best = (len(image.attempts), result)  # the earlier best's image is released
        if attempt.error is not None and len(image.attempts) == 1:
            return self._failed(image, result)  # the backend made nothing: a failure, not QA's
        retriable = attempt.error is not None or attempt.verdict.retriable
        if attempt.passed or not retriable or len(image.attempts) > self.settings.qa.retries:
            return self._keep(image)
        if image.locked:
            return self._keep(image, stopped=image.locked)
        self.queue.append(image.next_request())

    def _refused(self, image: _Image, reason: str) -> None:
        """The budget does not fit this attempt: a first attempt's rows end `skipped`, a retry keeps the best."""
        if image.attempts:
            return self._keep(image, stopped="retry not submitted: budget")
        now = datetime.now(timezone.utc)
        for row in image.rows:
            row.update(status="skipped", reason=reason, backend=None, cost_usd=0.0, created_at=now)
        image.placement = None
        self.run.emit({"key": image.request.key, "status": "skipped"})

    def _failed(self, image: _Image, result: ImageResult) -> None:
        for row in image.rows:
            row["details"] = _details(result)
            _fail(row, result.error or "backend returned no image", result.backend or None, image.seconds,
                  image.cost_usd)
        image.placement = None
        self.run.emit({"key": image.request.key, "status": "failed"})

    def _keep(self, image: _Image, stopped: str | None = None) -> None:
        number, result = image.best
        kept = replace(result, seconds=image.seconds, cost_usd=image.cost_usd)
        # Encoding and upload run on I/O threads, overlapped with the backend's next batch.
        self.stored.append(self.pool.submit(self._store, image, kept, number, stopped))

    def _store(self, image: _Image, result: ImageResult, number: int, stopped: str | None) -> None:
        """Write the kept image under the planned key (the key the planner computes again on every rerun), in its
        output's format; a channel's byte limit is judged on the file as stored."""
        key, image_format = image.request.key, _format(image.row, self.settings)
        for row in image.rows:
            row["details"] = _details(result)
        try:
            data = encode_image(result.image, image_format)
            self.run.store.write_bytes(image_relpath(key, image_format), data)
        except Exception as error:  # a write that fails loses this image only, with its reason
            for row in image.rows:
                _fail(row, f"could not store image: {type(error).__name__}: {error}", result.backend, result.seconds,
                      result.cost_usd)
            self.run.emit({"key": key, "status": "failed"})
            return
        finally:
            image.best = image.placement = None  # the shard holds no stored image's pixels
        self.run.images.add(key, image_format)
        columns = self._qa_columns(image, number, stopped, len(data))
        image.expects = None
        for index, row in enumerate(image.rows):
            row.update(columns, seed=image.attempts[number - 1].seed)
            _record(row, "generated", data, result.backend, result.seconds, result.cost_usd if index == 0 else 0.0)
        self.run.ledger.close_image(key, image.attempts[number - 1].seed)  # stored: its job records are settled
        self.run.emit({"key": key, "status": "generated"})

    def _qa_columns(self, image: _Image, number: int, stopped: str | None, stored_bytes: int) -> dict:
        if self.settings.qa is None:
            return {"qa_status": "skipped"}
        verdict = image.attempts[number - 1].verdict
        if image.expects.channel is not None and verdict is not None:
            verdict.checks.append(bytes_check(stored_bytes, image.expects.channel))
        return qa_columns(image.attempts, number, image.expects, stopped)


def _format(row: dict, settings: ShardSettings) -> str:
    """The stored image's encoding: its output's (a channel's), else the run's."""
    return row.get("image_format") or settings.image_format


def _details(result: ImageResult) -> str | None:
    return json.dumps(result.details, sort_keys=True, default=str) if result.details else None


def _record(row: dict, status: str, data: bytes, backend: str | None, seconds: float, cost: float) -> None:
    row.update(status=status, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), backend=backend,
               seconds=seconds, cost_usd=cost, created_at=datetime.now(timezone.utc))


def _fail(row: dict, reason: str, backend: str | None, seconds: float = 0.0, cost: float = 0.0) -> None:
    row.update(status="failed", reason=reason, backend=backend, seconds=seconds, cost_usd=cost,
               created_at=datetime.now(timezone.utc))


def request_for_row(row: dict) -> ImageRequest:
    return ImageRequest(key=row["key"], prompt=row["prompt"], model=row["model"], width=row["width"],
                        height=row["height"], steps=row["steps"], guidance=row["guidance"], seed=row["seed"])


def manifest_table(rows: list[dict], plan_schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=manifest_schema(plan_schema))

