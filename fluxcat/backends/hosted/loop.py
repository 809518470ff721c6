"""The event loop a hosted backend runs its requests on (one thread, owned by the backend, stopped by its close) and
the cap on requests in flight per provider endpoint, with counters."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Awaitable, Iterator

from fluxcat.backends.base import ImageRequest, ImageResult
from fluxcat.backends.hosted.secrets import scrub


class HostedLoop:
    """An asyncio loop on a daemon thread, started on first use; a router's providers share their router's."""

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, coroutine: Awaitable) -> concurrent.futures.Future:
        """Run a coroutine on the loop; returns a concurrent future."""
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="fluxcat-hosted-loop", daemon=True)
                self._thread.start()
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def close(self) -> None:
        """Stop the loop and its thread (after the owner closed what runs on it)."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not loop.is_running():
                loop.close()


def generate_on_loop(loop: HostedLoop, name: str, generate_one, requests: list[ImageRequest]) -> Iterator[ImageResult]:
    """One coroutine per request on the backend's loop; results yielded as they finish, never an exception."""
    futures = {loop.submit(generate_one(request)): request for request in requests}
    try:
        for future in concurrent.futures.as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # generate_one never raises; belt and braces
                yield ImageResult(futures[future].key, error=scrub(f"{type(error).__name__}: {error}"), backend=name)
    finally:
        for future in futures:
            future.cancel()


class ConcurrencyGauge:
    """A backend's cap on requests in flight at its endpoint (held for a whole image), plus the counters that
    benchmarks and tests read. Used on the backend's loop only."""

    def __init__(self, cap: int):
        self.cap = cap
        self.semaphore = asyncio.Semaphore(cap)  # binds to the loop that first waits on it
        self.in_flight = self.peak = self.completed = 0

    async def __aenter__(self) -> "ConcurrencyGauge":
        await self.semaphore.acquire()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return self

    async def __aexit__(self, *exc) -> None:
        self.in_flight -= 1
        self.completed += 1
        self.semaphore.release()

    def stats(self) -> dict:
        return {"cap": self.cap, "in_flight": self.in_flight, "peak": self.peak, "completed": self.completed}
