"""Monthly free-tier usage per provider, kept in the output store so it holds across runs and processes."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from fluxcat.backends.hosted.secrets import scrub
from fluxcat.layout import QUOTA_DIR

if TYPE_CHECKING:
    from fluxcat.store import Store

log = logging.getLogger("fluxcat.hosted")


class QuotaUsage:
    """Images made per provider per calendar month. Each instance (one per provider per run) writes its own small
    JSON file under `_work/quota/<provider>/<YYYY-MM>/`; usage is the sum of all files, so counts hold across runs
    and processes. Without a store it counts in memory only."""

    def __init__(self, store: "Store | None" = None):
        self.store = store
        self.writer = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._base: dict[tuple[str, str], int] = {}   # usage by other writers, read once
        self._mine: dict[tuple[str, str], int] = {}
        self._reserved: dict[tuple[str, str], int] = {}

    @staticmethod
    def month() -> str:
        return datetime.now(timezone.utc).strftime("%Y-%m")

    def _slot(self, provider: str) -> tuple[str, str]:
        slot = (provider, self.month())
        if slot not in self._base:
            self._base[slot] = self._read_others(slot)
            self._mine.setdefault(slot, 0)
            self._reserved.setdefault(slot, 0)
        return slot

    def _read_others(self, slot: tuple[str, str]) -> int:
        if self.store is None:
            return 0
        total = 0
        for relpath in self.store.list(f"{QUOTA_DIR}/{slot[0]}/{slot[1]}"):
            if relpath.endswith(".json") and not relpath.endswith(f"/{self.writer}.json"):
                try:
                    total += int(json.loads(self.store.read_bytes(relpath))["used"])
                except (ValueError, KeyError, TypeError):
                    log.warning("ignoring unreadable quota file %s", relpath)
        return total

    def used(self, provider: str) -> int:
        with self._lock:
            slot = self._slot(provider)
            return self._base[slot] + self._mine[slot]

    def remaining(self, provider: str, limit: int | None) -> float:
        if limit is None:
            return float("inf")
        with self._lock:
            slot = self._slot(provider)
            return max(0, limit - self._base[slot] - self._mine[slot] - self._reserved[slot])

    def take(self, provider: str, limit: int | None) -> bool:
        """Reserve one image of this month's quota; False when it is used up."""
        with self._lock:
            slot = self._slot(provider)
            if limit is not None and self._base[slot] + self._mine[slot] + self._reserved[slot] >= limit:
                return False
            self._reserved[slot] += 1
            return True

    def release(self, provider: str) -> None:
        with self._lock:
            slot = self._slot(provider)
            self._reserved[slot] = max(0, self._reserved[slot] - 1)

    def commit(self, provider: str) -> None:
        """A reserved image was made: count it and write this process's file."""
        with self._lock:
            slot = self._slot(provider)
            self._reserved[slot] = max(0, self._reserved[slot] - 1)
            self._mine[slot] += 1
            used = self._mine[slot]
        if self.store is not None:
            record = {"provider": slot[0], "month": slot[1], "used": used, "writer": self.writer,
                      "updated_at": datetime.now(timezone.utc).isoformat()}
            try:
                self.store.write_bytes(f"{QUOTA_DIR}/{slot[0]}/{slot[1]}/{self.writer}.json", json.dumps(record).encode())
            except Exception as error:  # usage is still counted in memory for this process
                log.warning("could not record quota usage for %s: %s", slot[0], scrub(error))
