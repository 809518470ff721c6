"""A writer's lease on an output root: one lease object in the store; a second writer waits or fails; stale leases expire."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from fluxcat.layout import LEASE_PATH
from fluxcat.store import Store, writing

DEFAULT_TTL_SECONDS = 600.0  # a holder renews every third of this; a dead holder's lease lapses after it
POLL_SECONDS = 2.0
WAIT_LOG_SECONDS = 60.0  # while waiting for another writer, a log line this often says who and until when

logger = logging.getLogger(__name__)


class LeaseHeld(RuntimeError):
    """Another writer holds the output; the message says who, since when, and what to do."""


class LeaseLost(RuntimeError):
    """This writer's lease lapsed or was taken over; its output must not be published."""


@dataclass
class Lease:
    """Hold an output root for one writer: `with Lease(store, owner="..."):` around everything that writes."""

    store: Store
    owner: str = "fluxcat"
    ttl: float = DEFAULT_TTL_SECONDS
    wait: float = 0.0
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    lost: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _heartbeat: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.ttl <= 0:
            raise ValueError(f"lease ttl must be positive seconds, got {self.ttl}")
        if self.wait < 0:
            raise ValueError(f"lease wait must be 0 (fail at once) or more seconds, got {self.wait}")

    def __enter__(self) -> "Lease":
        self.acquire()
        self._heartbeat = threading.Thread(target=self._renew_until_stopped, name="fluxcat-lease", daemon=True)
        self._heartbeat.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        self.release()

    def acquire(self) -> None:
        """Take the lease, waiting up to `wait` seconds for a live holder; a lapsed lease is taken over."""
        started = time.monotonic()
        deadline, told = started + self.wait, None  # told: (holder's token, when) of the last wait line
        while True:
            if _create_exclusive(self.store, LEASE_PATH, self._record()):
                if told:
                    logger.info("took the lease on %s after waiting %.0f s", self.store.url, time.monotonic() - started)
                return
            holder = read_lease(self.store)
            if holder is not None and (holder.get("expires_at", 0) < time.time() or _holder_is_dead(holder)):
                _remove_if_token(self.store, holder.get("token"))  # lapsed or killed: its writer is gone
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LeaseHeld(held_message(self.store, holder, self.wait))
            if told is None or told[0] != (holder or {}).get("token") or time.monotonic() - told[1] >= WAIT_LOG_SECONDS:
                logger.info("waiting for the output %s: %s holds it until %s (renewed while it runs); waited %.0f s, "
                            "giving up in %.0f s", self.store.url, describe(holder),
                            holder.get("expires") if holder else "?", time.monotonic() - started, remaining)
                told = ((holder or {}).get("token"), time.monotonic())
            time.sleep(min(POLL_SECONDS, remaining))

    def renew(self) -> None:
        holder = read_lease(self.store)
        if holder is None or holder.get("token") != self.token:
            self.lost = ("the lease was taken over by " + describe(holder)) if holder else "the lease object disappeared"
            return
        self.store.write_bytes(LEASE_PATH, self._record())

    def check(self) -> None:
        """Raise if the lease was lost: call before publishing (manifest, index)."""
        if self.lost is None:
            holder = read_lease(self.store)
            if holder is None or holder.get("token") != self.token:
                self.lost = ("the lease was taken over by " + describe(holder)) if holder else "the lease object disappeared"
        if self.lost is not None:
            raise LeaseLost(f"{self.store.url}: {self.lost}, so this run stopped before publishing its manifest "
                            f"(a run that cannot renew its lease for {self.ttl:g} s loses it); rerun it to finish")

    def release(self) -> None:
        _remove_if_token(self.store, self.token)

    def _record(self) -> bytes:
        now = time.time()
        return json.dumps({
            "token": self.token, "owner": self.owner, "host": socket.gethostname(), "pid": os.getpid(),
            "acquired_at": _iso(now), "expires_at": now + self.ttl, "expires": _iso(now + self.ttl),
        }).encode()

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except Exception:  # a storage hiccup: the next beat tries again; check() reads the lease itself
                pass


def _holder_is_dead(holder: dict) -> bool:
    """A holder on this very host whose process is gone (kill -9, a crash) cannot renew: no need to wait it out."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def read_lease(store: Store) -> dict | None:
    """The current lease record, or None when the output is free."""
    try:
        return json.loads(store.read_bytes(LEASE_PATH))
    except FileNotFoundError:
        return None
    except ValueError:  # a torn or foreign file: treat as lapsed so it cannot block forever
        return {"token": None, "owner": "unreadable lease object", "expires_at": 0}


def describe(holder: dict | None) -> str:
    if not holder:
        return "nobody"
    return f"{holder.get('owner')} (host {holder.get('host')}, pid {holder.get('pid')}, since {holder.get('acquired_at')})"


def held_message(store: Store, holder: dict | None, waited: float) -> str:
    waited_text = f"after waiting {waited:g} s" if waited else "without waiting"
    return (f"{store.url} is being written by {describe(holder)}; gave up {waited_text}. "
            f"Its lease lapses at {holder.get('expires') if holder else '?'} unless that run renews it. "
            "Wait for that run to finish, or set lease_wait_seconds (CLI: --lease-wait) to queue behind it; "
            f"if that run is dead, delete {store.uri(LEASE_PATH)} or let the lease lapse.")


def _create_exclusive(store: Store, relpath: str, data: bytes) -> bool:
    """Create a file only if absent, atomically: hard link locally, a conditional PUT (If-None-Match) elsewhere."""
    path = store.path(relpath)
    if store.local:
        with writing(path):  # a full or read-only output: one line, not a traceback
            os.makedirs(os.path.dirname(path), exist_ok=True)
            temp = store.write_temp(data)
            try:
                os.link(temp, path)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(temp)
    try:
        store.fs.pipe_file(path, data, mode="create")
        return True
    except FileExistsError:
        return False


def _remove_if_token(store: Store, token: str | None) -> None:
    """Delete the lease only if it is still the one we mean (re-read just before), never a newer holder's."""
    holder = read_lease(store)
    if holder is not None and holder.get("token") == token:
        try:
            store.fs.rm(store.path(LEASE_PATH))
        except FileNotFoundError:
            pass


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")
