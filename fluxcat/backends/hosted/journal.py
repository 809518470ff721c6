"""Submitted hosted jobs, recorded in the output store before waiting on them, so a rerun re-attaches instead of
paying for the same image twice (a fal request_id, a Replicate prediction id)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from fluxcat.backends.hosted.per_store import PerStore
from fluxcat.layout import JOBS_DIR  # records live at <provider>/<image key>.json below it

if TYPE_CHECKING:
    from fluxcat.store import Store

log = logging.getLogger("fluxcat.hosted")


class JobJournal:
    """One small JSON file per submitted image; without a store it remembers in memory (one process only)."""

    def __init__(self, store: "Store | None" = None):
        self.store = store
        self._memory: dict[str, dict] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _path(provider: str, key: str) -> str:
        return f"{JOBS_DIR}/{provider}/{key}.json"

    def find(self, provider: str, key: str) -> dict | None:
        """The job submitted earlier for this image, or None."""
        path = self._path(provider, key)
        with self._lock:
            if path in self._memory:
                return self._memory[path]
        if self.store is None or not self.store.exists(path):
            return None
        try:
            job = json.loads(self.store.read_bytes(path))
        except ValueError:
            log.warning("ignoring unreadable job record %s", path)
            return None
        with self._lock:
            self._memory[path] = job
        return job

    def record(self, provider: str, key: str, job: dict) -> None:
        """Remember a submitted job; written before anything waits on it."""
        path = self._path(provider, key)
        job = {**job, "submitted_at": datetime.now(timezone.utc).isoformat()}
        with self._lock:
            self._memory[path] = job
        if self.store is not None:
            self.store.write_bytes(path, json.dumps(job).encode())

    def holds(self, provider: str, key: str) -> bool:
        """Has this process recorded or re-attached to a job for this image? (memory only: no store I/O)"""
        with self._lock:
            return self._path(provider, key) in self._memory

    def forget(self, provider: str, key: str) -> None:
        """The job ended without an image (failed, cancelled): a later run may submit the image again."""
        path = self._path(provider, key)
        with self._lock:
            known = self._memory.pop(path, None) is not None
        if known and self.store is not None and self.store.exists(path):  # every record this process saw is in memory
            self.store.delete(path)


journal_for = PerStore(JobJournal)  # journal_for(store): the process's journal for an output store
