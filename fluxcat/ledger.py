"""The output's ledger of billed jobs: one record per paid attempt, written before anything waits on it, so that no
provider, the router included, pays twice for an image; and the run's verdict on what it was asked to make."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Mapping

from fluxcat.layout import LEDGER_DIR

if TYPE_CHECKING:
    from fluxcat.store import Store

log = logging.getLogger("fluxcat")

OPEN_DIR = f"{LEDGER_DIR}/open"  # <key>-<seed>.json: a billed job whose image is not stored yet
CLOSED_DIR = f"{LEDGER_DIR}/closed"  # <key>-<seed>-<n>.json: the same record once settled, with its outcome
OUTCOMES = ("stored", "rejected", "failed", "lost")  # image kept; QA chose another attempt; no image; cut by a crash


class Ledger:
    """Billed jobs of one output, keyed by (content key, seed): one attempt of one image.

    A provider calls `find` before creating anything and re-attaches to an open record's job instead of paying
    again; it calls `open` right after the create (one-call APIs: before the call) and `close` when the job ended
    without an image. Generation closes every record of an image once that image is stored, whoever served it.
    The open records are listed once per run; without a store the ledger lives in memory (one process)."""

    def __init__(self, store: "Store | None" = None, run_id: str = ""):
        self.store, self.run_id = store, run_id
        self._open: dict[str, dict[int, dict | None]] | None = None  # key -> seed -> record (None: listed, not read)
        self._lock = threading.Lock()

    @staticmethod
    def _name(key: str, seed: int) -> str:
        return f"{key}-{int(seed)}.json"

    def _index(self) -> dict[str, dict[int, dict | None]]:
        """Open records by key and seed, listed on first use; call with the lock held."""
        if self._open is None:
            self._open = {}
            for relpath in self.store.list(OPEN_DIR) if self.store is not None else []:
                key, _, seed = relpath.rsplit("/", 1)[-1].removesuffix(".json").rpartition("-")
                if key and seed.isdigit():
                    self._open.setdefault(key, {})[int(seed)] = None
        return self._open

    def find(self, key: str, seed: int) -> dict | None:
        """The open record of this attempt, or None."""
        with self._lock:
            seeds = self._index().get(key, {})
            if seed not in seeds:
                return None
            record = seeds[seed]
        if record is None:  # listed, not read yet: read it outside the lock
            try:
                record = json.loads(self.store.read_bytes(f"{OPEN_DIR}/{self._name(key, seed)}"))
            except (FileNotFoundError, ValueError):
                log.warning("ledger: ignoring an unreadable record for %s seed %s", key, seed)
                return None
            with self._lock:
                self._index().setdefault(key, {})[seed] = record
        return record

    def has_open(self, key: str) -> bool:
        """Is a billed job of this image open (in flight, or cut by a crash)? No store I/O after the first listing."""
        with self._lock:
            return key in self._index()

    def open(self, key: str, seed: int, provider: str, job: Mapping | None, price_usd: float) -> dict:
        """Record a billed create (job None: a one-call API, nothing to re-attach to); written before waiting."""
        record = {"key": key, "seed": int(seed), "provider": provider, "job": dict(job) if job else None,
                  "price_usd": float(price_usd), "run_id": self.run_id, "opened_at": _now()}
        if self.store is not None:
            self.store.write_bytes(f"{OPEN_DIR}/{self._name(key, seed)}", json.dumps(record).encode())
        with self._lock:
            self._index().setdefault(key, {})[int(seed)] = record
        return record

    def close(self, key: str, seed: int, outcome: str) -> None:
        """Settle an open record: its image was stored, QA kept another attempt, or the job ended without one."""
        if outcome not in OUTCOMES:
            raise ValueError(f"ledger outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        record = self.find(key, seed)
        if record is None:
            return
        with self._lock:
            seeds = self._index().get(key, {})
            seeds.pop(int(seed), None)
            if not seeds:
                self._index().pop(key, None)
        if self.store is not None:
            closed = {**record, "outcome": outcome, "closed_at": _now(), "closed_by_run": self.run_id}
            # one file per closed record: an attempt made again after a crash closes a second record
            self.store.write_bytes(f"{CLOSED_DIR}/{key}-{int(seed)}-{uuid.uuid4().hex[:8]}.json",
                                   json.dumps(closed).encode())
            self.store.delete(f"{OPEN_DIR}/{self._name(key, seed)}")

    def close_image(self, key: str, kept_seed: int) -> None:
        """An image is stored: close every open record of it, the kept attempt `stored`, the others `rejected`."""
        with self._lock:
            seeds = list(self._index().get(key, ()))
        for seed in seeds:
            self.close(key, seed, "stored" if seed == kept_seed else "rejected")

    def open_records(self) -> list[dict]:
        """Every open record (jobs in flight or cut by a crash), read from the store."""
        with self._lock:
            attempts = [(key, seed) for key, seeds in self._index().items() for seed in seeds]
        return [record for record in (self.find(key, seed) for key, seed in attempts) if record is not None]


@dataclass(frozen=True)
class RunVerdict:
    """What a run made of what it was asked to make: `failed` when it was asked for images and made none."""

    asked: int
    made: int
    failed: int
    skipped: int

    @property
    def ok(self) -> bool:
        return self.asked == 0 or self.made > 0

    @property
    def partial(self) -> bool:
        return self.made > 0 and self.failed + self.skipped > 0

    def message(self) -> str:
        if self.asked == 0:
            return "nothing to make: every image was already there"
        unmade = ", ".join(part for part in (f"{self.failed} failed" if self.failed else "",
                                             f"{self.skipped} skipped (budget)" if self.skipped else "") if part)
        if not self.ok:
            return f"made none of the {self.asked} images this run was asked to make ({unmade})"
        if self.partial:
            return f"made {self.made} of {self.asked} images; {unmade}"
        return f"made all {self.made} images"


def run_verdict(statuses: Mapping[str, int]) -> RunVerdict:
    """The verdict from this run's outcome per image (the shard parts' statuses: `existing` was not asked for)."""
    made, failed, skipped = (int(statuses.get(s, 0)) for s in ("generated", "failed", "skipped"))
    return RunVerdict(asked=made + failed + skipped, made=made, failed=failed, skipped=skipped)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
